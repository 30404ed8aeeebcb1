import type { NodeExit } from '../errors.js';
import type { JobRequest } from '../jobs/source.js';
import type { NodeContext } from '../nodes/context.js';
import { InProcessNodeProvider, type InProcessNodeProviderOptions } from '../nodes/inproc.js';
import { ProcessNodeProvider, type ProcessNodeProviderOptions } from '../nodes/process.js';
import type { AcquireOptions } from '../nodes/provider.js';
import type { PacketBodies } from '../packets.js';

export type JobPacket = 'JobRequest' | 'JobCancel' | 'MetadataUpdate';

/** One job's worker, as its dispatcher sees it: a fresh node that runs the job and exits. */
export interface JobWorker {
  readonly id: string;
  readonly pid: number | undefined;
  /** Sends a packet; resolves once it was handed to the connection, rejects if it cannot be. */
  send<K extends JobPacket>(kind: K, body: PacketBodies[K]): Promise<void>;
  /** Resolves once, when the worker has exited, with how. */
  readonly exited: Promise<NodeExit>;
  /** The tail of the worker's stdout and stderr. */
  output(): string;
  /** Kills the worker and everything it started. */
  kill(): void;
  /** Called for each log line the job writes. */
  onLog(listener: (body: PacketBodies['Log']) => void): void;
  /** Releases what is left of the worker (connection, output file); waits for it to be gone. */
  dispose(): Promise<void>;
  /**
   * Why the job failed, as the worker said before it exited (the error's stack, or its message),
   * once it has said so (`JobError`). Read when the exit code says Failed.
   */
  failure?(): string | undefined;
}

/** Starts job workers. */
export interface JobWorkerFactory {
  /** `options` go to the provider the worker's node comes from (`created`: for timelines). */
  start(job: JobRequest, options?: AcquireOptions): Promise<JobWorker>;
}

class NodeJobWorker implements JobWorker {
  readonly id: string;
  readonly exited: Promise<NodeExit>;
  #failure: string | undefined;

  constructor(
    readonly node: NodeContext,
    private readonly hooks: {
      exited: Promise<NodeExit>;
      output: () => string;
      kill: () => void;
      dispose: () => Promise<void>;
    },
  ) {
    this.id = node.id;
    // The worker is its node's host: of what a node says, only why its job failed matters here.
    node.attachHost({
      receive: (packet) => {
        if (packet.type === 'JobError') this.#failure = packet.body.error.stack ?? packet.body.error.message;
      },
      // The job's answer is the worker's exit code, never a packet.
      awaitsAnswers: () => false,
    });
    // The exit and the JobError before it arrive by different ways: the exit counts once the
    // connection has delivered everything the worker wrote.
    this.exited = Promise.all([hooks.exited, node.whenClosed]).then(([exit]) => exit);
  }

  failure(): string | undefined {
    return this.#failure;
  }

  get pid(): number | undefined {
    return this.node.pid;
  }

  async send<K extends JobPacket>(kind: K, body: PacketBodies[K]): Promise<void> {
    this.node.send(kind, body);
    await this.node.flushed();
  }

  output(): string {
    return this.hooks.output();
  }

  kill(): void {
    this.hooks.kill();
  }

  onLog(listener: (body: PacketBodies['Log']) => void): void {
    this.node.on('log', listener);
  }

  dispose(): Promise<void> {
    return this.hooks.dispose();
  }
}

export interface ProcessJobWorkersOptions
  extends Omit<ProcessNodeProviderOptions, 'reuse' | 'captureOutput' | 'taskHost'> {
  /** How much of a worker's output to keep for a crash report. Default 64 KiB. */
  outputBytes?: number;
}

/**
 * Job workers as process nodes: one fresh process per job, never reused, its stdout and stderr
 * captured to a file the host reads when the worker crashes and removes when it is released.
 */
export class ProcessJobWorkers implements JobWorkerFactory {
  readonly provider: ProcessNodeProvider;
  readonly #outputBytes: number;

  constructor(options: ProcessJobWorkersOptions = {}) {
    const { outputBytes, ...providerOptions } = options;
    this.provider = new ProcessNodeProvider({ ...providerOptions, reuse: false, captureOutput: true });
    this.#outputBytes = outputBytes ?? 64 * 1024;
  }

  async start(_job: JobRequest, options: AcquireOptions = {}): Promise<JobWorker> {
    const [node] = await this.provider.acquire(1, options);
    const process = node!.process!;
    return new NodeJobWorker(node!, {
      exited: new Promise((resolve) => process.onExit(resolve)),
      output: () => process.outputTail(this.#outputBytes),
      kill: () => process.killTree(),
      dispose: () => this.provider.shutdown([node!], { reuse: false }),
    });
  }
}

/**
 * Job workers on the host's event loop: the real node endpoint and job runner over in-memory
 * links, where a worker's exit is its endpoint's and a kill cuts its links. What tests and the
 * simulator run; a crash in a job is a crash of the host, so it is no isolation for real jobs.
 */
export class InProcessJobWorkers implements JobWorkerFactory {
  readonly provider: InProcessNodeProvider;

  constructor(options: InProcessNodeProviderOptions = {}) {
    this.provider = new InProcessNodeProvider(options);
  }

  async start(_job: JobRequest, options: AcquireOptions = {}): Promise<JobWorker> {
    const [node] = await this.provider.acquire(1, options);
    const endpoint = this.provider.endpointOf(node!)!;
    const output: string[] = [];
    endpoint.on('log', (line) => output.push(line));
    return new NodeJobWorker(node!, {
      exited: endpoint.exited.then(() =>
        endpoint.killed ? { code: null, signal: 'SIGKILL' } : { code: endpoint.exitCode ?? 0, signal: null },
      ),
      output: () => output.join('\n'),
      kill: () => void endpoint.kill(),
      dispose: () => this.provider.shutdown([node!]),
    });
  }
}
