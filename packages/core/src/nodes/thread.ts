// Thread nodes: the one module that starts worker_threads Workers (the real thread launcher);
// what runs on the thread is endpoint/thread-entry.ts.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MessageChannel, type MessagePort, Worker, type WorkerOptions } from 'node:worker_threads';
import {
  type Clock,
  type HandshakeOptions,
  type RandomSource,
  systemClock,
  systemRandom,
} from '@troupe/transport';
import { fulfilsWithin, messagePortChannel, openLink } from '@troupe/transport/internal';
import type { ThreadNodeData } from '../endpoint/thread-entry.js';
import type { NodeExit } from '../errors.js';
import { createIdSource, type IdSource } from '../ids.js';
import { checkShape, clock, duration, handshakeShape, random, type Shape, shape } from '../options.js';
import type { NodeProcess } from '../system/launcher.js';
import { NodeContext } from './context.js';
import { HostedNodeProvider } from './hosted.js';

export interface ThreadNodeProviderOptions {
  clock?: Clock;
  random?: RandomSource;
  handshake?: HandshakeOptions;
  /**
   * How long a thread may take to end after its exit packet before it is terminated (its link is
   * read until then, so what it logged before the end arrives). Default 5 s.
   */
  exitTimeoutMs?: number;
}

/**
 * What a worker runs: the build's bundle (scripts/bundle.mjs), which shares its chunks with
 * @troupe/core's door, so a task module that imports @troupe/core loads nothing a second time;
 * tsc's entry when there is no bundle. Both paths hold from dist/nodes/ and from dist/bundle/.
 */
const bundledEntry = new URL('../bundle/thread-node.js', import.meta.url);
const entry = existsSync(fileURLToPath(bundledEntry))
  ? bundledEntry
  : new URL('../endpoint/thread-entry.js', import.meta.url);

/** Options about the host's own code (`node --input-type=module -e ...`, stdin): a file entry refuses them. */
const SOURCE_FLAGS = new Set(['--input-type', '-e', '--eval', '-p', '--print']);

/**
 * The host's Node options for a thread node, less those that say where the host's code came from:
 * a worker inherits them, and `--input-type` makes its file entry fail to load, so a host started
 * with `node --input-type=module` (a script on stdin) could start no thread node at all. Undefined
 * when there is nothing to leave out: the worker inherits the host's options as they are, since a
 * Worker refuses V8's options and the process's (`--max-old-space-size`, `--stack-size`) only when
 * they are given to it explicitly.
 */
function nodeExecArgv(): string[] | undefined {
  const argv: string[] = [];
  const inherited = process.execArgv;
  for (let i = 0; i < inherited.length; i++) {
    const flag = inherited[i]!;
    const name = flag.split('=', 1)[0]!;
    if (!SOURCE_FLAGS.has(name)) argv.push(flag);
    else if (!flag.includes('=')) i++; // its value is the next argument
  }
  return argv.length === inherited.length ? undefined : argv;
}

/**
 * Starts the worker of a thread node. Options the host's code came from are left out
 * (`nodeExecArgv`); given explicitly, the rest must be options a worker takes, and those it
 * refuses (V8's, the process's, which it names in its error) are left out as well.
 */
function startWorker(options: WorkerOptions): Worker {
  const execArgv = nodeExecArgv();
  if (execArgv === undefined) return new Worker(entry, options);
  try {
    return new Worker(entry, { ...options, execArgv });
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw error;
    const refused = new Set(/flags: (.*)$/.exec((error as Error).message)?.[1]?.split(', ') ?? []);
    return new Worker(entry, { ...options, execArgv: execArgv.filter((flag) => !refused.has(flag)) });
  }
}

/**
 * A worker thread seen as a node process: exit code, output tail, and terminate as the kill.
 * Its output is read from `readOutput()` on: a reader of the worker's stderr keeps the host's
 * event loop alive, which a worker started ahead (`prestart`) must not do; the stream keeps what
 * the worker wrote until then.
 */
function threadProcess(worker: Worker): { process: NodeProcess; readOutput: () => void } {
  let exit: NodeExit | undefined;
  const listeners: Array<(exit: NodeExit) => void> = [];
  let tail = '';
  const readOutput = () =>
    worker.stderr?.on('data', (chunk: Buffer) => {
      tail = (tail + chunk.toString('utf8')).slice(-8192);
    });
  worker.on('exit', (code) => {
    exit = { code, signal: null };
    for (const listener of listeners.splice(0)) listener(exit);
  });
  worker.on('error', (error) => {
    tail = `${tail}${error.stack ?? error.message}\n`.slice(-8192);
  });
  const thread: NodeProcess = {
    pid: process.pid,
    exit: () => exit,
    isAlive: () => exit === undefined,
    onExit: (listener) => {
      if (exit) listener(exit);
      else listeners.push(listener);
    },
    outputTail: (bytes = 4096) => tail.slice(-bytes),
    killTree: () => {
      void worker.terminate();
    },
  };
  return { process: thread, readOutput };
}

/** A node's worker, started, with the host's end of its port and its id. */
interface StartedThread {
  readonly id: string;
  readonly worker: Worker;
  readonly process: NodeProcess;
  readonly readOutput: () => void;
  readonly port: MessagePort;
}

/**
 * Nodes in worker threads of the host process, over message-port links: isolation of globals
 * and a separate event loop, at a fraction of a process's start-up cost.
 */
export class ThreadNodeProvider extends HostedNodeProvider<Worker> {
  readonly kind = 'thread' as const;
  readonly #options: ThreadNodeProviderOptions;
  readonly #clock: Clock;
  readonly #ids: IdSource;
  /** When each node being shut down was sent its exit packet: its exit timeout runs from then. */
  readonly #closingSince = new Map<NodeContext, number>();
  /**
   * A worker started ahead of the first node (`prestart`), unreferenced until a node takes it: a
   * runtime that never builds neither waits for it nor is kept alive by it.
   */
  #spare: StartedThread | undefined;

  constructor(options: ThreadNodeProviderOptions = {}) {
    super();
    checkShape(options, threadShape, '');
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#ids = createIdSource(options.random ?? systemRandom);
  }

  /**
   * Starts the next node's worker now, before the host's own cold start (its scheduler's first
   * actors, the first build's): the runtime calls it as it is created, so that on two cores Node's
   * ~50–100 ms start of a worker and its loading of the bundle overlap the host's work instead
   * of following it. The next `create` takes it; `shutdown` of all nodes ends it if none did.
   */
  prestart(): void {
    if (this.#spare !== undefined) return;
    this.#spare = this.#startThread();
    this.#spare.worker.unref();
  }

  #startThread(): StartedThread {
    const id = this.#ids.next('node');
    const handshake = this.#options.handshake ?? {};
    const { port1, port2 } = new MessageChannel();
    const data: ThreadNodeData = { port: port2, nodeId: id, idleTimeoutMs: 15 * 60_000, handshake };
    const worker = startWorker({ workerData: data, transferList: [port2], stderr: true });
    return { id, worker, ...threadProcess(worker), port: port1 };
  }

  protected async create(): Promise<{ node: NodeContext; resource: Worker }> {
    const { id, worker, process: thread, readOutput, port } = this.#spare ?? this.#startThread();
    this.#spare = undefined;
    worker.ref();
    readOutput();
    const handshake = this.#options.handshake ?? {};
    const node = new NodeContext({
      id,
      kind: 'thread',
      process: thread,
      ids: this.#ids,
      clock: this.#clock,
      connect: (onLink) =>
        openLink(messagePortChannel(port, `thread ${id}`), {
          handshake,
          onLink,
          clock: this.#clock,
          // The close after the exit packet waits for the thread to end its side: the exit timeout.
          closeTimeoutMs: this.#options.exitTimeoutMs ?? 5_000,
        }),
    });
    return { node, resource: worker };
  }

  override async shutdown(nodes?: readonly NodeContext[]): Promise<void> {
    if (nodes === undefined) {
      const spare = this.#spare;
      this.#spare = undefined;
      if (spare) await spare.worker.terminate();
    }
    nodes ??= this.nodes;
    const now = this.#clock.now();
    for (const node of nodes) this.#closingSince.set(node, now);
    await super.shutdown(nodes);
  }

  /**
   * The thread ends by itself after the exit packet; one that does not is terminated once the
   * exit timeout, counted from the exit packet, has passed. The close of its link waited for the
   * thread's side within the same bound, so a task that never gives the thread's event loop back
   * costs the exit timeout once, not the close's wait and then the exit timeout again.
   */
  protected async end(node: NodeContext, worker: Worker, killing: () => void): Promise<void> {
    const since = this.#closingSince.get(node);
    this.#closingSince.delete(node);
    if (!node.process?.isAlive()) return;
    const exitTimeoutMs = this.#options.exitTimeoutMs ?? 5_000;
    const left = exitTimeoutMs - (since === undefined ? 0 : this.#clock.now() - since);
    if (node.exitPacket !== 'sent' || left <= 0) {
      // It never started, its link died, or its time is up.
      killing();
      await worker.terminate();
      return;
    }
    const thread = node.process;
    const exited = await fulfilsWithin(
      this.#clock,
      new Promise<void>((done) => thread.onExit(() => done())),
      left,
    );
    if (!exited) {
      killing();
      await worker.terminate();
    }
  }
}

const threadShape: Shape<ThreadNodeProviderOptions> = {
  clock,
  random,
  handshake: shape(handshakeShape),
  exitTimeoutMs: duration(0),
};
