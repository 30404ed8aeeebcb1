// What the network tests share: the reason they skip, `troupe node` started inside a namespace,
// a host that dials it, and cleanups that run even when a test fails.
import { type ChildProcess, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { NodeContext } from '@troupe/core';
import { type NetworkNamespace, netnsUnavailable } from '@troupe/testing/internal';
import { type TcpConnectOptions, TcpTransport } from '@troupe/transport';

/** Why these tests cannot run here (not root, no `ip netns`), or undefined. CI runs as root. */
export const noNetns = netnsUnavailable();

export const troupeBin = fileURLToPath(new URL('../../../packages/core/bin/troupe.js', import.meta.url));
/** The fixture task module, by URL: what a node in a namespace loads (the file system is shared). */
export const tasksModule = new URL('../fixtures/tasks.mjs', import.meta.url).href;

/**
 * Whether `troupe node --help` lists `option`: the flags of the remote-node contract (issue 14)
 * arrive with the remote provider; a test of one is skipped, saying so, until they do.
 */
export function nodeHasOption(option: string): boolean {
  nodeHelp ??= execFileSync(process.execPath, [troupeBin, 'node', '--help'], { encoding: 'utf8' });
  return nodeHelp.includes(option);
}
let nodeHelp: string | undefined;

/** Functions to call after a test, last first, whether it passed or not. */
export class Cleanups {
  readonly #steps: Array<() => unknown> = [];

  add(step: () => unknown): void {
    this.#steps.push(step);
  }

  async run(): Promise<void> {
    const errors: unknown[] = [];
    for (const step of this.#steps.splice(0).reverse()) {
      try {
        await step();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'cleanup failed');
  }
}

export interface NamespacedNode {
  readonly child: ChildProcess;
  readonly pid: number;
  /** `tcp://ADDRESS:PORT` on the namespace's link: what the host dials. */
  readonly address: string;
  stderr(): string;
  /** Resolves when the process has ended: its code, or the signal that ended it. */
  readonly exited: Promise<number | NodeJS.Signals | null>;
}

/**
 * `troupe node --listen tcp://ADDRESS:0 ...args` inside `namespace`, its environment plus `env`,
 * `stdin` written to it first when given; resolves once it prints its listening line. Killed by
 * the cleanup if still running.
 */
export function startNode(
  namespace: NetworkNamespace,
  args: readonly string[],
  cleanups: Cleanups,
  options: { env?: Record<string, string>; stdin?: string } = {},
): Promise<NamespacedNode> {
  const child = namespace.exec(
    [process.execPath, troupeBin, 'node', '--listen', `tcp://${namespace.address}:0`, ...args],
    {
      env: { ...process.env, ...options.env },
      stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    },
  );
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(signal ?? code)),
  );
  cleanups.add(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  if (options.stdin !== undefined) child.stdin!.write(options.stdin);
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split('\n')[0];
      if (!stdout.includes('\n') || !line) return;
      const { address, pid } = JSON.parse(line) as { address: string; pid: number };
      resolve({ child, pid, address, stderr: () => stderr, exited });
    });
    void exited.then((how) => reject(new Error(`troupe node ended (${how}) before listening:\n${stderr}`)));
  });
}

let hosts = 0;

/** A host's connection to the node at `address`, past its handshake and accepted. */
export async function connectHost(
  address: string,
  options: Omit<TcpConnectOptions, 'onLink'>,
  cleanups: Cleanups,
): Promise<NodeContext> {
  const node = new NodeContext({
    id: `remote-host${++hosts}`,
    kind: 'remote',
    connect: (onLink) => new TcpTransport().connect(address, { ...options, onLink }),
  });
  cleanups.add(() => node.close({ reuse: false }));
  await node.start(process.pid);
  return node;
}

/** Resolves when `predicate` holds, polling; rejects naming `what` after `ms`. */
export async function until(
  predicate: () => boolean | Promise<boolean>,
  what: string,
  ms = 15_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`gave up after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
