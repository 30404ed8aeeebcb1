import { existsSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Clock,
  ConnectError,
  type HandshakeOptions,
  type Link,
  PipeTransport,
  type RandomSource,
  systemClock,
  systemRandom,
} from '@troupe/transport';
import { createHandshake, encodeHandshake, ensurePrivateDirectory } from '@troupe/transport/internal';
import { EventEmitter } from 'eventemitter3';
import { type NodeExit, NodeLaunchError } from '../errors.js';
import { createIdSource, type IdSource } from '../ids.js';
import {
  boolean,
  checkRequired,
  checkShape,
  clock,
  duration,
  integer,
  invalid,
  isRecord,
  nonEmptyString,
  join as optionPath,
  random,
  type Shape,
  shape,
  string,
  stringArray,
  version,
  withMethods,
} from '../options.js';
import { type Launcher, type NodeProcess, processLauncher } from '../system/launcher.js';
import { NodeRegistry, nodeName } from '../system/registry.js';
import { NodeContext } from './context.js';
import type { AcquireOptions, NodeProvider, NodeWarning, ReleaseOptions } from './provider.js';

export interface ShutdownTimeouts {
  /** How long the exit packet may wait in the writer before the host stops waiting. Default 100 ms. */
  drainTimeoutMs?: number;
  /** First pause between checks that the node exited; doubles each time. Default 5 ms. */
  exitPollStartMs?: number;
  /** Longest pause between checks. Default 500 ms. */
  exitPollMaxMs?: number;
  /** How long a node may take to exit after the exit packet before its tree is killed. Default 30 s. */
  exitTimeoutMs?: number;
  /** How long to wait for a killed tree to disappear. Default 5 s. */
  killTimeoutMs?: number;
}

export interface ProcessNodeProviderOptions {
  /** Nodes stay idle after the build for later hosts, and idle nodes of this user are reused. */
  reuse?: boolean;
  lowPriority?: boolean;
  /** Nodes are sidecar task hosts (a handshake flag: they never pair with ordinary hosts' nodes). */
  taskHost?: boolean;
  /** Pair only with nodes of this session (mixed into the handshake salt). */
  session?: string;
  /** Present another runtime version in the handshake (for tests of version mismatch). */
  runtimeVersion?: string;
  /** Exit after this long without a host. Default 15 minutes for reusable nodes, 60 s otherwise. */
  idleTimeoutMs?: number;
  /** Per launch: how long the new node has to accept a connection. Default 30 s. */
  connectTimeoutMs?: number;
  /** Launches tried per node before giving up. Default 10. */
  launchAttempts?: number;
  shutdown?: ShutdownTimeouts;
  /**
   * The host keeps each node's output file until the node is shut down through this provider,
   * even after the node exits on its own (job workers, whose output is attached to crash
   * reports). The node is not told the file's name, so it does not remove it either.
   */
  captureOutput?: boolean;
  /** How to start a node: a command and the arguments before the node options (`troupe node`'s).
   * Default: this Node.js running @troupe/core's bundled node entry. */
  nodeCommand?: { command: string; args: readonly string[] };
  env?: NodeJS.ProcessEnv;
  launcher?: Launcher;
  transport?: PipeTransport;
  clock?: Clock;
  random?: RandomSource;
}

export interface ProcessNodeProviderEvents {
  /** Something went wrong that did not fail the caller, e.g. a node that had to be killed. */
  warning: [warning: NodeWarning];
  /** A node was launched or reused and accepted this host. */
  node: [node: NodeContext, how: 'launched' | 'reused'];
}

const bundlePath = fileURLToPath(new URL('../troupe-node.mjs', import.meta.url));
const binPath = fileURLToPath(new URL('../bin/troupe.js', import.meta.url));

/** How a node process is started: the bundled node entry when the build made one, else the CLI. */
function defaultNodeCommand(): { command: string; args: readonly string[] } {
  return existsSync(bundlePath)
    ? { command: process.execPath, args: [bundlePath] }
    : { command: process.execPath, args: [binPath, 'node'] };
}

/**
 * Process nodes, MSBuild style: reuse idle nodes of this user whose handshake matches, launch the
 * rest, connect over a per-user Unix socket, and at the end ask politely (exit packet), wait with
 * back-off, then kill the process tree.
 */
export class ProcessNodeProvider extends EventEmitter<ProcessNodeProviderEvents> implements NodeProvider {
  readonly kind = 'process' as const;
  readonly reuse: boolean;
  readonly #options: ProcessNodeProviderOptions;
  readonly #launcher: Launcher;
  readonly #transport: PipeTransport;
  readonly #registry: NodeRegistry;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #ids: IdSource;
  readonly #handshake: HandshakeOptions;
  readonly #handshakeKey: string;
  /** Pids that refused or could not be reached, per handshake: not tried again by this host. */
  readonly #tried = new Set<string>();
  readonly #nodes = new Set<NodeContext>();
  readonly #outputFiles = new Map<NodeContext, string>();

  constructor(options: ProcessNodeProviderOptions = {}) {
    super();
    checkShape(options, processShape, '');
    this.#options = options;
    this.reuse = options.reuse ?? false;
    this.#launcher = options.launcher ?? processLauncher;
    this.#random = options.random ?? systemRandom;
    this.#transport = options.transport ?? new PipeTransport({ random: this.#random });
    this.#registry = new NodeRegistry(this.#transport.directory);
    this.#clock = options.clock ?? systemClock;
    this.#ids = createIdSource(this.#random);
    this.#handshake = {
      nodeReuse: this.reuse,
      lowPriority: options.lowPriority ?? false,
      taskHost: options.taskHost ?? false,
      ...(options.session !== undefined && { session: options.session }),
      ...(options.runtimeVersion !== undefined && { runtimeVersion: options.runtimeVersion }),
    };
    this.#handshakeKey = encodeHandshake(createHandshake(this.#handshake)).toString('hex');
  }

  /** The nodes this provider holds now. */
  get nodes(): readonly NodeContext[] {
    return [...this.#nodes];
  }

  async acquire(count: number, options: AcquireOptions = {}): Promise<NodeContext[]> {
    options.signal?.throwIfAborted();
    const nodes: NodeContext[] = this.reuse ? await this.#reuseIdle(count) : [];
    const launches = await Promise.allSettled(
      Array.from({ length: count - nodes.length }, () => this.#launch(options)),
    );
    for (const launch of launches) if (launch.status === 'fulfilled') nodes.push(launch.value);
    const failure = launches.find((launch) => launch.status === 'rejected');
    if (failure) {
      // All or nothing: the caller asked for `count` nodes and gets an error, not a partial set
      // it might forget to shut down.
      await this.shutdown(nodes, { reuse: this.reuse });
      throw (failure as PromiseRejectedResult).reason;
    }
    return nodes;
  }

  async shutdown(nodes: readonly NodeContext[] = this.nodes, options: ReleaseOptions = {}): Promise<void> {
    const reuse = options.reuse ?? this.reuse;
    await Promise.all(nodes.map((node) => this.#shutdownOne(node, reuse)));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }

  async #reuseIdle(count: number): Promise<NodeContext[]> {
    const ours = new Set([...this.#nodes].map((node) => node.pid));
    const candidates = (await this.#registry.list(0)).filter(
      (record) =>
        record.handshake === this.#handshakeKey &&
        record.pid !== process.pid &&
        !ours.has(record.pid) &&
        !this.#tried.has(`${record.handshake}|${record.pid}`),
    );
    // Connect to every candidate at once; a busy one refuses, and the first `count` to accept win.
    const attempts = await Promise.allSettled(
      candidates.map(async (record) => {
        const node = new NodeContext({
          id: this.#ids.next('node'),
          kind: 'process',
          process: this.#launcher.attach(record.pid, record.outputFile),
          nodeReuse: true,
          clock: this.#clock,
          ids: this.#ids,
          connect: (onLink) =>
            this.#transport.connect(record.address, {
              handshake: this.#handshake,
              clock: this.#clock,
              connectTimeoutMs: 2_000,
              onLink,
            }),
        });
        await node.start(process.pid);
        return node;
      }),
    );
    const reused: NodeContext[] = [];
    for (const [index, attempt] of attempts.entries()) {
      if (attempt.status !== 'fulfilled') {
        // MSBuild's rule: a node that refused (busy) or could not be reached is not tried again
        // for this handshake by this host. One we connected to and let go stays a candidate.
        const record = candidates[index]!;
        this.#tried.add(`${record.handshake}|${record.pid}`);
        continue;
      }
      if (reused.length < count) {
        reused.push(attempt.value);
        this.#adopt(attempt.value, 'reused');
      } else {
        await attempt.value.close({ reuse: true });
      }
    }
    return reused;
  }

  async #launch(options: AcquireOptions): Promise<NodeContext> {
    const attempts = this.#options.launchAttempts ?? 10;
    let pause = LAUNCH_PAUSE_FIRST_MS;
    let last: { error: Error; exit: NodeExit | undefined; tail: string } | undefined;
    let attempt = 0;
    while (attempt < attempts) {
      options.signal?.throwIfAborted();
      if (attempt > 0) {
        // Back-off: a node that cannot start now (a loaded machine, a resource limit) may start in
        // a moment, and one that never starts must not be relaunched as fast as the OS allows.
        await sleep(this.#clock, pause);
        pause = Math.min(pause * 2, LAUNCH_PAUSE_MAX_MS);
        options.signal?.throwIfAborted();
      }
      attempt++;
      try {
        // A first run finds no directory, and a temp cleaner may remove it at any time: checked
        // before each launch, since the node's output file goes there before the node does.
        await ensurePrivateDirectory(this.#transport.directory);
      } catch (error) {
        // Retrying cannot make a directory safe.
        throw new NodeLaunchError(
          `could not start a node: ${(error as Error).message}`,
          attempt,
          undefined,
          '',
          {
            cause: error,
          },
        );
      }
      const outputFile = join(this.#transport.directory, `troupe-launch-${this.#random.id(10)}.log`);
      let launched: NodeProcess;
      try {
        launched = this.#spawn(outputFile);
      } catch (error) {
        // The launcher itself failed (its output file, a spawn that threw): an attempt like any other.
        last = { error: error as Error, exit: undefined, tail: '' };
        await unlink(outputFile).catch(() => {});
        continue;
      }
      const node = new NodeContext({
        id: this.#ids.next('node'),
        kind: 'process',
        process: launched,
        nodeReuse: this.reuse,
        clock: this.#clock,
        ids: this.#ids,
        connect: (onLink) => this.#connectLaunched(launched, onLink),
      });
      try {
        await node.start(process.pid);
        this.#outputFiles.set(node, outputFile);
        this.#adopt(node, 'launched');
        return node;
      } catch (error) {
        launched.killTree();
        await this.#waitForExit(launched, this.#options.shutdown?.killTimeoutMs ?? 5_000);
        last = {
          error: error as Error,
          exit: launched.exit(),
          // A process that never started has no output; its launch error is the message.
          tail: launched.pid > 0 ? launched.outputTail(2048) : '',
        };
        // A node killed after it listened leaves its socket behind.
        await Promise.all([
          unlink(outputFile).catch(() => {}),
          launched.pid > 0 && this.#transport.removeStale(nodeName(launched.pid)),
        ]);
      }
    }
    // The last attempt's own error says how it ended (exited, killed, never listened); an exit
    // alone would read "killed by SIGKILL" for a node this host killed for being late. Its stderr
    // tail follows once, below the message.
    const how = last ? last.error.message.split('\n')[0] : 'no attempt was made';
    throw new NodeLaunchError(
      `could not start a node after ${attempt} attempts; the last one: ${how}`,
      attempt,
      last?.exit,
      last?.tail ?? '',
      {
        cause: last?.error,
      },
    );
  }

  #spawn(outputFile: string): NodeProcess {
    const command = this.#options.nodeCommand ?? defaultNodeCommand();
    const args = [...command.args, '--listen', 'pipe'];
    if (!this.#options.captureOutput) args.push('--output-file', outputFile);
    args.push('--idle-timeout', String(this.#options.idleTimeoutMs ?? (this.reuse ? 15 * 60_000 : 60_000)));
    if (this.reuse) args.push('--reuse');
    if (this.#options.lowPriority) args.push('--low-priority');
    if (this.#options.taskHost) args.push('--task-host');
    if (this.#options.session !== undefined) args.push('--session', this.#options.session);
    if (this.#options.runtimeVersion !== undefined)
      args.push('--runtime-version', this.#options.runtimeVersion);
    return this.#launcher.launch({
      command: command.command,
      args,
      env: {
        // msgpackr's native string accelerator costs a node ~12 ms of start-up and buys little on
        // node packets, which are small; a caller's env may turn it back on.
        MSGPACKR_NATIVE_ACCELERATION_DISABLED: 'true',
        ...(this.#options.env ?? process.env),
        TROUPE_SOCKET_DIR: this.#transport.directory,
      },
      outputFile,
    });
  }

  /** Connects to a node that is starting: retried with back-off until it listens, exits, or time runs out. */
  async #connectLaunched(launched: NodeProcess, onLink: (link: Link) => void): Promise<Link> {
    const address = this.#transport.pathFor(nodeName(launched.pid));
    const timeoutMs = this.#options.connectTimeoutMs ?? 30_000;
    const deadline = this.#clock.now() + timeoutMs;
    // A failed connect to a socket that does not exist yet costs microseconds, and every
    // millisecond between the node listening and us noticing is start-up time: poll briskly.
    let pause = 2;
    for (;;) {
      const exit = launched.exit();
      if (exit && launched.pid <= 0) {
        const command = (this.#options.nodeCommand ?? defaultNodeCommand()).command;
        throw new NodeLaunchError(
          `could not run ${command}: ${launched.outputTail(2048).split('\n')[0] || 'no process was started'}`,
          1,
          exit,
          '',
        );
      }
      if (exit) {
        throw new NodeLaunchError(
          `node process ${launched.pid} ${exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`} before it accepted a connection`,
          1,
          exit,
          launched.outputTail(2048),
        );
      }
      if (launched.pid <= 0) {
        // The OS would not start the command (missing, not executable) and the launcher learns why
        // a moment later: a pause like any other until then.
        if (this.#clock.now() + pause > deadline) {
          throw new NodeLaunchError(`no node process was started within ${timeoutMs} ms`, 1, undefined, '');
        }
        await sleep(this.#clock, pause);
        pause = Math.min(pause * 2, 5);
        continue;
      }
      try {
        return await this.#transport.connect(address, {
          handshake: this.#handshake,
          clock: this.#clock,
          connectTimeoutMs: Math.max(1, deadline - this.#clock.now()),
          // After the exit packet the host reads on until the node ends its side (what it logged
          // before the end arrives); the exit and kill timeouts bound that, not a fixed 2 s. A
          // reusable node is not waited on to exit, so its link keeps the short default.
          ...(!this.reuse && { closeTimeoutMs: this.#closeTimeoutMs() }),
          onLink,
        });
      } catch (error) {
        if (!(error instanceof ConnectError)) throw error;
        if (this.#clock.now() + pause > deadline) {
          throw new NodeLaunchError(
            `node process ${launched.pid} did not accept a connection within ${timeoutMs} ms`,
            1,
            undefined,
            launched.outputTail(2048),
            { cause: error },
          );
        }
        await sleep(this.#clock, pause);
        pause = Math.min(pause * 2, 5);
      }
    }
  }

  #adopt(node: NodeContext, how: 'launched' | 'reused'): void {
    this.#nodes.add(node);
    void node.whenClosed.then(() => {
      // A captured node's output outlives it until it is shut down: whoever reads it comes later.
      if (node.state === 'failed' && !this.#options.captureOutput) void this.#forget(node);
    });
    this.emit('node', node, how);
  }

  /**
   * Drops a node that is gone, with its files: the output file, and the socket of a process that
   * died without removing it (killed, or ended by `process.exit` from inside a job).
   */
  async #forget(node: NodeContext): Promise<void> {
    this.#nodes.delete(node);
    const outputFile = this.#outputFiles.get(node);
    this.#outputFiles.delete(node);
    const nodeProcess = node.process;
    if (!nodeProcess || nodeProcess.isAlive()) return;
    await Promise.all([
      outputFile && unlink(outputFile).catch(() => {}),
      nodeProcess.pid > 0 && this.#transport.removeStale(nodeName(nodeProcess.pid)),
    ]);
  }

  async #shutdownOne(node: NodeContext, reuse: boolean): Promise<void> {
    const timeouts = this.#options.shutdown ?? {};
    const closing = node.close({ reuse, drainTimeoutMs: timeouts.drainTimeoutMs ?? 100 });
    const nodeProcess = node.process;
    if (reuse || !nodeProcess) {
      await closing;
      if (!nodeProcess || node.state === 'closed') {
        this.#nodes.delete(node);
        this.#outputFiles.delete(node);
        return;
      }
    }
    // The exit clock runs alongside the orderly close: a node that ignores the exit packet (hung,
    // stopped) would otherwise also cost the link's close timeout before the wait even began.
    const exited = await this.#waitForExit(nodeProcess, timeouts.exitTimeoutMs ?? 30_000, timeouts);
    if (!exited) {
      nodeProcess.killTree();
      const killed = await this.#waitForExit(nodeProcess, timeouts.killTimeoutMs ?? 5_000);
      this.emit('warning', {
        nodeId: node.id,
        pid: nodeProcess.pid,
        message: `node ${node.id} (pid ${nodeProcess.pid}) did not exit within ${timeouts.exitTimeoutMs ?? 30_000} ms of the exit packet; its process tree was killed${killed ? '' : ' but it is still there'}`,
      });
    }
    try {
      await closing;
    } finally {
      // Whatever the close said, the process is gone (or given up on): drop it and its files.
      await this.#forget(node);
    }
  }

  /** How long a launched node's link may take to close: until the node is gone, at the latest killed. */
  #closeTimeoutMs(): number {
    const timeouts = this.#options.shutdown ?? {};
    return (timeouts.exitTimeoutMs ?? 30_000) + (timeouts.killTimeoutMs ?? 5_000);
  }

  /** Polls with back-off (5 ms doubling to 500 ms by default) until the process is gone. */
  async #waitForExit(
    nodeProcess: NodeProcess,
    timeoutMs: number,
    timeouts: ShutdownTimeouts = {},
  ): Promise<boolean> {
    let pause = timeouts.exitPollStartMs ?? 5;
    const longest = timeouts.exitPollMaxMs ?? 500;
    let waited = 0;
    while (nodeProcess.isAlive()) {
      if (waited >= timeoutMs) return false;
      const step = Math.min(pause, timeoutMs - waited);
      await sleep(this.#clock, step);
      waited += step;
      pause = Math.min(pause * 2, longest);
    }
    return true;
  }
}

/** The pause before the second launch of a node; it doubles for each one after. */
const LAUNCH_PAUSE_FIRST_MS = 50;
/** The longest pause between launches: ten attempts take under 6 s of pauses. */
const LAUNCH_PAUSE_MAX_MS = 1_000;

function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}

const shutdownShape: Shape<ShutdownTimeouts> = {
  drainTimeoutMs: duration(0),
  exitPollStartMs: duration(1),
  exitPollMaxMs: duration(1),
  exitTimeoutMs: duration(0),
  killTimeoutMs: duration(0),
};

/** The rules for `ProcessNodeProviderOptions` (the runtime's `nodes.process` takes most of them). */
export const processShape: Shape<ProcessNodeProviderOptions> = {
  reuse: boolean,
  lowPriority: boolean,
  taskHost: boolean,
  session: string,
  runtimeVersion: version,
  idleTimeoutMs: duration(1),
  connectTimeoutMs: duration(1),
  launchAttempts: integer(1),
  shutdown: shape(shutdownShape),
  captureOutput: boolean,
  nodeCommand: (value, path) => {
    checkShape(value, { command: nonEmptyString, args: stringArray }, path);
    checkRequired(value as Record<string, unknown>, ['command', 'args'], path, 'set');
  },
  env: (value, path) => {
    if (!isRecord(value)) throw invalid(path, 'an object of environment variables', value);
    for (const [name, entry] of Object.entries(value))
      if (entry !== undefined && typeof entry !== 'string')
        throw invalid(optionPath(path, name), 'a string', entry);
  },
  launcher: withMethods('a Launcher', ['launch', 'attach']),
  transport: withMethods('a PipeTransport', ['connect', 'pathFor', 'removeStale']),
  clock,
  random,
};
