import { JobRun } from '../endpoint/jobs.js';
import { TaskResolver } from '../endpoint/resolver.js';
import type { NodeExit } from '../errors.js';
import { JOB_EXIT_CODES } from '../jobs/result.js';
import type { JobRequest } from '../jobs/source.js';
import { type PacketBodies, serializeError } from '../packets.js';
import type { JobPacket, JobWorker, JobWorkerFactory } from './workers.js';

/**
 * A worker kept warm between jobs: the job runner and its loaded modules, without a node. One job
 * at a time; whoever holds it gets a fresh `WarmJob` handle per job.
 */
class WarmWorker {
  readonly tasks = new TaskResolver();
  /** How many jobs it has been given, for tests and diagnostics. */
  jobs = 0;

  constructor(readonly id: string) {}
}

/**
 * One job on a warm worker, as the dispatcher sees it: the same contract as a fresh worker's
 * (`exited` resolves once, with the job's exit code, or with SIGKILL once killed), except that
 * `dispose` hands the worker back to its pool when, and only when, the job ended on its own.
 */
class WarmJob implements JobWorker {
  readonly id: string;
  readonly pid = process.pid;
  readonly exited: Promise<NodeExit>;
  readonly #worker: WarmWorker;
  readonly #release: (worker: WarmWorker, reusable: boolean) => void;
  readonly #output: string[] = [];
  readonly #listeners: Array<(body: PacketBodies['Log']) => void> = [];
  #exit!: (exit: NodeExit) => void;
  #run: JobRun | undefined;
  #failure: string | undefined;
  /** Set once the job's function has ended and its exit code is known. */
  #ended = false;
  #killed = false;
  #cancelled = false;
  #disposed = false;

  constructor(worker: WarmWorker, release: (worker: WarmWorker, reusable: boolean) => void) {
    this.#worker = worker;
    this.#release = release;
    // Per job, not per worker: an exit of the worker's previous job can never pass for this one's.
    this.id = `${worker.id}.${worker.jobs + 1}`;
    this.exited = new Promise((resolve) => {
      this.#exit = resolve;
    });
  }

  async send<K extends JobPacket>(kind: K, body: PacketBodies[K]): Promise<void> {
    // A killed worker is gone, as a killed process is: nothing reaches it any more.
    if (this.#killed) throw new Error(`job worker ${this.id} was killed`);
    if (kind === 'JobRequest') this.#start(body as PacketBodies['JobRequest']);
    else if (kind === 'JobCancel') {
      const cancel = body as PacketBodies['JobCancel'];
      if (this.#run?.jobId === cancel.jobId) {
        this.#cancelled = true;
        this.#run.cancel(cancel.kind, cancel.reason);
      }
    } else {
      const update = body as PacketBodies['MetadataUpdate'];
      if (this.#run && (update.requestId ?? this.#run.jobId) === this.#run.jobId)
        this.#run.updateMetadata(update.metadata);
    }
  }

  #start(request: PacketBodies['JobRequest']): void {
    // The same refusal as a node's: one job per handle, and the dispatcher never sends two.
    if (this.#run) return;
    this.#worker.jobs++;
    const run = new JobRun(request.jobId, request.metadata, {
      log: (message, level) => {
        if (this.#killed) return;
        this.#output.push(message);
        const body: PacketBodies['Log'] = { requestId: request.jobId, level, message };
        for (const listener of this.#listeners) listener(body);
      },
    });
    this.#run = run;
    void (async () => {
      let code: number;
      let failure: unknown;
      try {
        const fn = await this.#worker.tasks.resolveJob(request.job);
        code = await run.run(fn, request.message);
        failure = run.failure;
      } catch (error) {
        run.port.log(`could not load job ${request.job}: ${(error as Error).message}`, 'error');
        failure = error;
        code = JOB_EXIT_CODES.Failed;
      }
      this.#ended = true;
      // After a kill the exit was already decided, and nothing the job says reaches the host.
      if (this.#killed) return;
      if (failure !== undefined && code === JOB_EXIT_CODES.Failed) {
        const error = serializeError(failure);
        this.#failure = error.stack ?? error.message;
      }
      this.#exit({ code, signal: null });
    })();
  }

  failure(): string | undefined {
    return this.#failure;
  }

  output(): string {
    return this.#output.join('\n');
  }

  /**
   * Ends the job as a kill ends a process: its exit is SIGKILL at once and nothing it still does
   * reaches the host. Its code cannot be stopped on the host's loop, so it is told to stop (the
   * signal aborts) and its worker is never reused.
   */
  kill(): void {
    if (this.#killed || this.#ended) return;
    this.#killed = true;
    this.#run?.cancel('RuntimeShutdown', 'the job was killed');
    this.#exit({ code: null, signal: 'SIGKILL' });
  }

  onLog(listener: (body: PacketBodies['Log']) => void): void {
    this.#listeners.push(listener);
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    // Only a worker whose job ended by itself, never cancelled or killed, is known to be clean: a
    // cancelled job may have left work behind it, a killed one may still be running. Modules that
    // changed on disk since they were loaded retire it too, as they retire a reused node.
    const reusable =
      this.#ended && !this.#killed && !this.#cancelled && this.#worker.tasks.modulesChanged() === undefined;
    this.#release(this.#worker, reusable);
  }
}

/**
 * In-process job workers kept warm and reused from job to job: a slot takes an idle worker (or
 * makes one), runs the job on it, and gives it back once the job ended on its own. What the bench
 * and hosts that trust their jobs run, where starting a node per job (XState actors, a link and
 * its handshake, msgpack) costs far more than a short job. Like `InProcessJobWorkers` it is no
 * isolation: a job's crash is the host's. `ProcessJobWorkers` stays the default for real jobs.
 *
 * No node is started, so `AcquireOptions.created` is never called: there is no node to time.
 */
export class WarmJobWorkers implements JobWorkerFactory {
  readonly #idle: WarmWorker[] = [];
  #made = 0;

  /** How many workers were ever made: with every job clean, at most the number of slots. */
  get created(): number {
    return this.#made;
  }

  /** Workers waiting for their next job. */
  get idle(): number {
    return this.#idle.length;
  }

  async start(_job: JobRequest): Promise<JobWorker> {
    const worker = this.#idle.pop() ?? new WarmWorker(`warm-${++this.#made}`);
    return new WarmJob(worker, this.#release);
  }

  /** One function for every job, not a closure per job. */
  readonly #release = (worker: WarmWorker, reusable: boolean): void => {
    if (reusable) this.#idle.push(worker);
  };
}
