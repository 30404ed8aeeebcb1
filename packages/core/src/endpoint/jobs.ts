import type { Link } from '@troupe/transport';
import { type JobCancelKind, JobCancelledError } from '../errors.js';
import type { JobContext, JobFunction } from '../jobs/define.js';
import { isJobResult, JOB_EXIT_CODES, type JobResult } from '../jobs/result.js';
import { describeThrown, type PacketBodies, PacketType, serializeError } from '../packets.js';
import type { TaskChildren } from './children.js';
import type { TaskResolver } from './resolver.js';

/** How a job's code reaches its host, from inside the worker. */
export interface JobPort {
  log(message: string, level: 'debug' | 'info' | 'warn' | 'error'): void;
}

/**
 * Runs one job inside a worker: the context, cancellation, metadata updates, and the mapping of
 * how the job's function ended to the worker's exit code (`JOB_EXIT_CODES`).
 */
export class JobRun {
  readonly #controller = new AbortController();
  readonly #listeners = new Set<(metadata: Readonly<Record<string, unknown>>) => void>();
  #metadata: Readonly<Record<string, unknown>>;
  #failure: unknown;

  constructor(
    readonly jobId: string,
    metadata: Readonly<Record<string, unknown>> | undefined,
    readonly port: JobPort,
  ) {
    this.#metadata = Object.freeze({ ...metadata });
  }

  /** Why the job ended Failed, once it has: what it threw, or a TypeError for what it returned. */
  get failure(): unknown {
    return this.#failure;
  }

  get cancelled(): boolean {
    return this.#controller.signal.aborted;
  }

  cancel(kind: JobCancelKind, reason: string): void {
    if (this.cancelled) return;
    this.#controller.abort(new JobCancelledError(kind, reason));
  }

  updateMetadata(update: Readonly<Record<string, unknown>>): void {
    this.#metadata = Object.freeze({ ...this.#metadata, ...update });
    for (const listener of this.#listeners) {
      try {
        listener(this.#metadata);
      } catch (error) {
        this.port.log(`a metadata listener threw: ${describe(error)}`, 'error');
      }
    }
  }

  /** Runs the job's function; resolves with the exit code for how it ended. Never rejects. */
  async run(fn: JobFunction, message: unknown): Promise<number> {
    const run = this;
    const ctx: JobContext = {
      jobId: this.jobId,
      signal: this.#controller.signal,
      get metadata() {
        return run.#metadata;
      },
      onMetadata: (listener) => {
        this.#listeners.add(listener);
        return () => this.#listeners.delete(listener);
      },
      log: (line, level = 'info') => this.port.log(line, level),
    };
    let result: JobResult;
    try {
      const returned = await fn(message, ctx);
      if (returned === undefined || returned === null) result = this.cancelled ? 'Canceled' : 'Succeeded';
      else if (isJobResult(returned)) result = returned;
      else {
        this.#failure = new TypeError(
          `the job returned ${describeThrown(returned)}, which is not a job result (${Object.keys(JOB_EXIT_CODES).join(', ')})`,
        );
        this.port.log((this.#failure as Error).message, 'error');
        result = 'Failed';
      }
    } catch (error) {
      if (this.cancelled) result = 'Canceled';
      else {
        this.#failure = error;
        this.port.log(`the job failed: ${describe(error)}`, 'error');
        result = 'Failed';
      }
    }
    return JOB_EXIT_CODES[result];
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : describeThrown(error);
}

export interface WorkerJobOptions {
  tasks: TaskResolver;
  children: TaskChildren | undefined;
  /** Whether the endpoint was killed: then nothing the job still does reaches the host. */
  killed(): boolean;
  log(message: string): void;
  /** The job ended (its processes too): the endpoint exits. */
  ended(): void;
}

/**
 * The one job a worker node runs, then exits with the code for how it ended; its log lines go to
 * the host as they are written. A second job on the same worker is refused: workers are never
 * reused across jobs.
 */
export class WorkerJob {
  readonly #options: WorkerJobOptions;
  #job: JobRun | undefined;
  #exitCode: number | undefined;

  constructor(options: WorkerJobOptions) {
    this.#options = options;
  }

  /**
   * The exit code this node's process should end with: set when it ran a job (the code says how
   * the job ended, `JOB_EXIT_CODES`); undefined otherwise.
   */
  get exitCode(): number | undefined {
    return this.#exitCode;
  }

  /** A `JobRequest` from the host. */
  run(link: Link, request: PacketBodies['JobRequest']): void {
    const { tasks, children, killed, log } = this.#options;
    if (this.#job) {
      log(`refused job ${request.jobId}: this worker already ran job ${this.#job.jobId}`);
      return;
    }
    const job = new JobRun(request.jobId, request.metadata, {
      log: (message, level) => {
        if (link.state === 'open' && !killed())
          link.send(PacketType.Log, { requestId: request.jobId, level, message });
      },
    });
    this.#job = job;
    log(`running job ${request.jobId} (${request.job})`);
    void (async () => {
      let code: number;
      let failure: unknown;
      try {
        const fn = await tasks.resolveJob(request.job);
        // A worker runs its one job: every process started from here on is the job's.
        children?.activate(request.jobId);
        code = await job.run(fn, request.message);
        failure = job.failure;
      } catch (error) {
        job.port.log(`could not load job ${request.job}: ${(error as Error).message}`, 'error');
        failure = error;
        code = await job.run(() => 'Failed', undefined);
      }
      // The exit code says Failed; this says why, for the job's completion.
      if (failure !== undefined && code === JOB_EXIT_CODES.Failed && link.state === 'open' && !killed()) {
        link.send(PacketType.JobError, {
          jobId: request.jobId,
          error: serializeError(failure),
        } satisfies PacketBodies['JobError']);
      }
      this.#exitCode ??= code;
      log(`job ${request.jobId} ended (exit code ${code})`);
      // Whatever the job left running goes with it (agent#1757): it had its chance to stop it.
      await children?.end(request.jobId, 0);
      this.#options.ended();
    })();
  }

  /** A `JobCancel` from the host. */
  cancel(cancel: PacketBodies['JobCancel']): void {
    if (this.#job?.jobId === cancel.jobId) this.#job.cancel(cancel.kind, cancel.reason);
  }

  /** A `MetadataUpdate` from the host, for the job if it names it (or names nothing). */
  updateMetadata(update: PacketBodies['MetadataUpdate']): void {
    if (this.#job && (update.requestId ?? this.#job.jobId) === this.#job.jobId)
      this.#job.updateMetadata(update.metadata);
  }

  /** The host went away: whatever the job still does, no host will hear of it. */
  abandon(): void {
    if (!this.#job) return;
    this.#exitCode ??= JOB_EXIT_CODES.Abandoned;
    this.#job.cancel('RuntimeShutdown', 'the host went away');
  }
}
