// Network namespaces for tests of remote nodes: the real implementation, driving iproute2's `ip`
// as root. Each namespace is a machine of its own with one veth link to the host, addressed from
// 198.18.0.0/15 (RFC 2544's range for benchmarking, which no real network routes) and nothing
// else: no default route inside, so a node there reaches the host and no one beyond it.
//
// Names carry what cleanup needs. Namespace `tb-<slot>-<pid>`: the pid is the process that made
// it, so a sweep can tell a crashed run's namespace (pid gone) from a live neighbour's. Host link
// `tbh<slot>` (15 characters at most, the kernel's limit): creating it is the atomic claim on the
// slot, whose /30 is 198.18.0.0 + 4 × slot, so concurrent test workers never share addresses.
import { type ChildProcess, execFile, execFileSync, type SpawnOptions, spawn } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Namespaces this module made: the prefix every sweep looks for. */
const PREFIX = 'tb-';
/** /30 subnets in 198.18.0.0/15; slot 0 is left out so no address ends in .0.0. */
const SLOTS = 32_768;

export interface NetworkNamespace {
  /** `tb-<slot>-<pid>`. */
  readonly name: string;
  /** This namespace's address on its link (198.18.x.y). */
  readonly address: string;
  /** The host's address on the same link: what a process inside dials to reach the host. */
  readonly hostAddress: string;
  /** The host end of the veth pair, `tbh<slot>`. */
  readonly hostLink: string;
  /** The launcher prefix that runs a command inside: `['ip', 'netns', 'exec', name]`. */
  readonly prefix: readonly string[];
  /**
   * Starts `argv` inside the namespace. `ip netns exec` execs the command in its own process, so
   * the child's pid is the command's: signals sent to it (SIGSTOP, SIGKILL) reach the command.
   */
  exec(argv: readonly string[], options?: SpawnOptions): ChildProcess;
  /** Runs `argv` inside to its end; rejects with its stderr when it fails. */
  run(argv: readonly string[]): Promise<string>;
  /**
   * Partitions the namespace from the host: its end of the link goes down. Connections stay open
   * (nobody is told), their packets are lost until `linkUp`. The host end stays up, so the host
   * keeps its route to the link and its packets to it die here instead of taking a default route.
   */
  linkDown(): Promise<void>;
  /** Heals a partition: the namespace's end of the link comes back with its address. */
  linkUp(): Promise<void>;
  /** The processes running inside. */
  pids(): Promise<number[]>;
  /** Kills what runs inside and removes the namespace and its link. Idempotent. */
  remove(): Promise<void>;
}

/** Why namespaces cannot be made here (not root, no `ip netns`), or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `network namespaces need Linux, not ${process.platform}`;
  if (process.getuid?.() !== 0) return 'network namespaces need root (CI runs as root)';
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    return `\`ip netns\` is not available: ${firstLine(error)}`;
  }
  return undefined;
}

const made = new Map<string, NetworkNamespace>();
let exitHookInstalled = false;

/** Makes a namespace with a veth link to the host, both ends up, loopback up inside. */
export async function createNamespace(): Promise<NetworkNamespace> {
  const reason = netnsUnavailable();
  if (reason) throw new Error(reason);
  installExitHook();
  await sweepStaleNamespaces();
  for (let attempt = 0; attempt < 20; attempt++) {
    const slot = 1 + Math.floor(Math.random() * (SLOTS - 1));
    const name = `${PREFIX}${slot}-${process.pid}`;
    const hostLink = `tbh${slot}`;
    const innerLink = `tbn${slot}`;
    await ip(['netns', 'add', name]);
    try {
      await ip(['link', 'add', hostLink, 'type', 'veth', 'peer', 'name', innerLink, 'netns', name]);
    } catch (error) {
      await ip(['netns', 'delete', name]).catch(() => {});
      // Another worker holds the slot (its host link exists): draw again.
      if (/exists/i.test(firstLine(error))) continue;
      throw error;
    }
    const namespace = handle(name, slot, hostLink, innerLink);
    made.set(name, namespace);
    try {
      await ip(['addr', 'add', `${namespace.hostAddress}/30`, 'dev', hostLink]);
      await ip(['link', 'set', hostLink, 'up']);
      await ip(['-n', name, 'addr', 'add', `${namespace.address}/30`, 'dev', innerLink]);
      await ip(['-n', name, 'link', 'set', innerLink, 'up']);
      await ip(['-n', name, 'link', 'set', 'lo', 'up']);
    } catch (error) {
      await namespace.remove();
      throw error;
    }
    return namespace;
  }
  throw new Error('no free 198.18.0.0/15 slot for a test namespace after 20 draws');
}

/** Removes every namespace this process made (what a test's final cleanup calls). */
export async function removeNamespaces(): Promise<void> {
  for (const namespace of [...made.values()]) await namespace.remove();
}

/**
 * Removes the `tb-*` namespaces whose maker is gone (a crashed or killed test run), with what runs
 * inside them and their links. Returns their names. Namespaces of live processes are left alone.
 */
export async function sweepStaleNamespaces(): Promise<string[]> {
  const stale = (await listNamespaces()).filter(({ pid }) => !alive(pid));
  for (const { name, slot } of stale) await removeQuietly(name, `tbh${slot}`);
  return stale.map(({ name }) => name);
}

/** The namespace `name` made in `slot`, and what a test does with it. */
function handle(name: string, slot: number, hostLink: string, innerLink: string): NetworkNamespace {
  const base = 198 * 2 ** 24 + 18 * 2 ** 16 + slot * 4;
  let removing: Promise<void> | undefined;
  return {
    name,
    hostAddress: dotted(base + 1),
    address: dotted(base + 2),
    hostLink,
    prefix: ['ip', 'netns', 'exec', name],
    exec: (argv, options = {}) => spawn('ip', ['netns', 'exec', name, ...argv], options),
    run: async (argv) => (await run('ip', ['netns', 'exec', name, ...argv])).stdout,
    linkDown: () => ip(['-n', name, 'link', 'set', innerLink, 'down']).then(() => {}),
    linkUp: async () => {
      await ip(['-n', name, 'link', 'set', innerLink, 'up']);
      // Bringing the link down removed nothing but the route; the address stays. Wait for the
      // kernel to put the link back in service, or the first packets after `linkUp` may be lost.
      await waitForCarrier(name, innerLink);
    },
    pids: () => pidsOf(name),
    remove: () => {
      removing ??= removeQuietly(name, hostLink).finally(() => made.delete(name));
      return removing;
    },
  };
}

async function waitForCarrier(name: string, link: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const { stdout } = await run('ip', ['-n', name, '-o', 'link', 'show', link]);
    if (/state UP/.test(stdout)) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function pidsOf(name: string): Promise<number[]> {
  const { stdout } = await run('ip', ['netns', 'pids', name]).catch(() => ({ stdout: '' }));
  return stdout
    .split('\n')
    .filter(Boolean)
    .map(Number)
    .filter((pid) => Number.isInteger(pid) && pid > 0);
}

/**
 * SIGKILLs what runs inside (a namespace whose processes live on outlives `ip netns delete`),
 * deletes the host link (which takes its peer with it, at once rather than when the kernel gets
 * round to the namespace), then the namespace.
 */
async function removeQuietly(name: string, hostLink: string): Promise<void> {
  for (const pid of await pidsOf(name)) kill(pid);
  await ip(['link', 'delete', hostLink]).catch(() => {});
  await ip(['netns', 'delete', name]).catch(() => {});
}

/** The same, synchronously, for process exit: the event loop no longer runs then. */
function removeAtExit(name: string, hostLink: string): void {
  const quiet = { stdio: 'ignore' } as const;
  try {
    const pids = execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8' });
    for (const pid of pids.split('\n').filter(Boolean)) kill(Number(pid));
  } catch {
    // Nothing inside, or the namespace is gone already.
  }
  try {
    execFileSync('ip', ['link', 'delete', hostLink], quiet);
  } catch {
    // Gone already.
  }
  try {
    execFileSync('ip', ['netns', 'delete', name], quiet);
  } catch {
    // Gone already.
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const namespace of made.values()) removeAtExit(namespace.name, namespace.hostLink);
  });
}

async function listNamespaces(): Promise<Array<{ name: string; slot: number; pid: number }>> {
  const { stdout } = await run('ip', ['netns', 'list']);
  const found: Array<{ name: string; slot: number; pid: number }> = [];
  for (const line of stdout.split('\n')) {
    const match = /^tb-(\d+)-(\d+)\b/.exec(line);
    if (match)
      found.push({ name: `tb-${match[1]}-${match[2]}`, slot: Number(match[1]), pid: Number(match[2]) });
  }
  return found;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Gone already.
  }
}

async function ip(args: string[]): Promise<string> {
  try {
    return (await run('ip', args)).stdout;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new Error(`ip ${args.join(' ')}: ${stderr || (error as Error).message}`, { cause: error });
  }
}

function dotted(address: number): string {
  return [address >>> 24, (address >>> 16) & 255, (address >>> 8) & 255, address & 255].join('.');
}

function firstLine(error: unknown): string {
  return String((error as Error).message ?? error).split('\n')[0]!;
}
