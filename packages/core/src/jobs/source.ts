import { type Clock, systemClock } from '@troupe/transport';
import { EventEmitter } from 'eventemitter3';
import {
  DuplicateJobError,
  JobAlreadyCompletedError,
  JobServerClosedError,
  LeaseRenewalError,
  type NodeExit,
  TaskModuleError,
  UnknownJobError,
} from '../errors.js';
import { createIdSource, type IdSource } from '../ids.js';
import { unloadableTask } from '../tasks/define.js';
import type { JobResult } from './result.js';

/** A job as a dispatcher receives it from its source. */
export interface JobRequest {
  readonly id: string;
  /** The job's code: `moduleSpecifier#exportName` of a `defineJob` export. */
  readonly job: string;
  /** What the job is asked to do, passed to the job function as is (any structured-cloneable value). */
  readonly message: unknown;
  readonly metadata?: Readonly<Record<string, unknown>>;
  /** The source's token for this lease: renewals and the completion present it. */
  readonly lease: string;
}

/** A successful renewal: the lease now runs until `expiresAt` (source clock, ms). */
export interface Lease {
  readonly expiresAt: number;
}

/** What a dispatcher reports for a job, exactly once. */
export interface JobCompletion {
  readonly result: JobResult;
  /** Why, in words, when the result is not plain success (a cancel's reason, a crash). */
  readonly reason?: string;
  /** How the worker process ended, when one ran. */
  readonly exit?: NodeExit;
  /** The worker's captured stdout and stderr (tail), attached when it exited outside the table. */
  readonly output?: string;
}

/**
 * Where jobs come from and where their results go: the job server, seen from one agent. Take a job
 * (which leases it to this agent), keep renewing the lease while it runs, complete it once.
 */
export interface JobSource {
  /** The next job, leased to the caller; undefined once the source has no more and never will. */
  take(signal?: AbortSignal): Promise<JobRequest | undefined>;
  /**
   * Extends the job's lease; rejects (`LeaseRenewalError`) when it cannot, and with its subclass
   * `LeaseLostError` when the lease is no longer this taker's (another take superseded it): final,
   * the dispatcher does not retry it.
   */
  renew(job: JobRequest, signal?: AbortSignal): Promise<Lease>;
  /**
   * Reports the job's result. A source that fences leases refuses a superseded one
   * (`LeaseLostError`) and records nothing: the job's one result is its current holder's.
   */
  complete(job: JobRequest, completion: JobCompletion): Promise<void>;
  /**
   * Optional: cancels and metadata updates that reach this agent through the source (a queue many
   * agents share), for jobs it holds. A dispatcher watches while it runs. The listener returns
   * whether it could act on the control now; the source offers one it could not again later.
   * Returns the unsubscribe.
   */
  watch?(listener: (control: JobControl) => boolean): () => void;
}

/** A cancel or a metadata update for a job, addressed to the holder of one lease. */
export type JobControl =
  | { readonly type: 'cancel'; readonly jobId: string; readonly lease: string; readonly reason: string }
  | {
      readonly type: 'metadata';
      readonly jobId: string;
      readonly lease: string;
      readonly metadata: Record<string, unknown>;
    };

export type MemoryJobStatus = 'queued' | 'leased' | 'completed';

export interface MemoryJob {
  readonly id: string;
  readonly job: string;
  readonly message: unknown;
  readonly metadata?: Readonly<Record<string, unknown>>;
  status: MemoryJobStatus;
  lease: string | undefined;
  expiresAt: number | undefined;
  renewals: number;
  completion: JobCompletion | undefined;
  /** Completions beyond the first (always empty for a correct dispatcher). */
  extraCompletions: JobCompletion[];
}

export interface MemoryJobServerOptions {
  /** How long a lease lasts after it is taken or renewed. Default 5 minutes. */
  leaseMs?: number;
  clock?: Clock;
  ids?: IdSource;
}

export interface MemoryJobServerEvents {
  completed: [job: MemoryJob];
}

/**
 * The embedded job server: an in-memory queue of jobs with leases that expire unless renewed,
 * and renewals that a test can make fail. The default `JobSource`, so an agent runs on one machine
 * with nothing to set up. It stays open for more jobs until `close()`: a dispatcher's `run()`
 * ends only once it is closed and drained.
 */
export class MemoryJobServer extends EventEmitter<MemoryJobServerEvents> implements JobSource {
  readonly #jobs = new Map<string, MemoryJob>();
  readonly #queue: MemoryJob[] = [];
  readonly #takers: Array<(job: MemoryJob | undefined) => void> = [];
  readonly #failRenewals = new Map<string, number>();
  readonly #clock: Clock;
  readonly #ids: IdSource;
  readonly #leaseMs: number;
  #closed = false;

  constructor(options: MemoryJobServerOptions = {}) {
    super();
    this.#clock = options.clock ?? systemClock;
    this.#ids = options.ids ?? createIdSource();
    this.#leaseMs = options.leaseMs ?? 5 * 60_000;
  }

  /** Queues a job; returns its id. */
  add(spec: { job: string; message?: unknown; metadata?: Record<string, unknown>; id?: string }): string {
    if (this.#closed) throw new JobServerClosedError(spec.job);
    // A worker imports the job's module: refused here, as `build` refuses such a task, rather than
    // failing in the worker (a relative path resolves against troupe's files there).
    const unloadable = unloadableTask(spec.job);
    if (unloadable !== undefined) throw new TaskModuleError(spec.job, unloadable);
    const id = spec.id ?? this.#ids.next('job');
    if (this.#jobs.has(id)) throw new DuplicateJobError(id);
    const job: MemoryJob = {
      id,
      job: spec.job,
      message: spec.message,
      ...(spec.metadata && { metadata: spec.metadata }),
      status: 'queued',
      lease: undefined,
      expiresAt: undefined,
      renewals: 0,
      completion: undefined,
      extraCompletions: [],
    };
    this.#jobs.set(id, job);
    const taker = this.#takers.shift();
    if (taker) taker(job);
    else this.#queue.push(job);
    return id;
  }

  /**
   * No more jobs will be added: takers get `undefined` once the queue is empty, which is what ends
   * a dispatcher's `run()`. Jobs already queued or running are not affected.
   */
  close(): void {
    this.#closed = true;
    for (const taker of this.#takers.splice(0)) taker(undefined);
  }

  /** The next `times` renewals of this job fail (default: all of them from now on). */
  failRenewals(jobId: string, times = Number.POSITIVE_INFINITY): void {
    this.#failRenewals.set(jobId, times);
  }

  /** Renewals of this job succeed again. */
  allowRenewals(jobId: string): void {
    this.#failRenewals.delete(jobId);
  }

  get(jobId: string): MemoryJob | undefined {
    return this.#jobs.get(jobId);
  }

  list(): MemoryJob[] {
    return [...this.#jobs.values()];
  }

  take(signal?: AbortSignal): Promise<JobRequest | undefined> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(this.#lease(queued));
    if (this.#closed) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      const taker = (job: MemoryJob | undefined) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(job && this.#lease(job));
      };
      const onAbort = () => {
        const index = this.#takers.indexOf(taker);
        if (index >= 0) this.#takers.splice(index, 1);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#takers.push(taker);
    });
  }

  async renew(request: JobRequest, _signal?: AbortSignal): Promise<Lease> {
    const job = this.#jobs.get(request.id);
    if (!job) throw new LeaseRenewalError(`job ${request.id} does not exist`);
    const failures = this.#failRenewals.get(job.id) ?? 0;
    if (failures > 0) {
      this.#failRenewals.set(job.id, failures - 1);
      throw new LeaseRenewalError(`the job server refused to renew the lease of job ${job.id}`);
    }
    if (job.status !== 'leased' || job.lease !== request.lease) {
      throw new LeaseRenewalError(`job ${job.id} is not leased to this agent (${job.status})`);
    }
    const now = this.#clock.now();
    if (job.expiresAt !== undefined && now > job.expiresAt) {
      throw new LeaseRenewalError(`the lease of job ${job.id} expired ${now - job.expiresAt} ms ago`);
    }
    job.expiresAt = now + this.#leaseMs;
    job.renewals++;
    return { expiresAt: job.expiresAt };
  }

  async complete(request: JobRequest, completion: JobCompletion): Promise<void> {
    const job = this.#jobs.get(request.id);
    if (!job) throw new UnknownJobError(request.id);
    if (job.completion) {
      job.extraCompletions.push(completion);
      throw new JobAlreadyCompletedError(job.id);
    }
    job.completion = completion;
    job.status = 'completed';
    job.lease = undefined;
    this.emit('completed', job);
  }

  #lease(job: MemoryJob): JobRequest {
    job.status = 'leased';
    job.lease = this.#ids.next('lease');
    job.expiresAt = this.#clock.now() + this.#leaseMs;
    return {
      id: job.id,
      job: job.job,
      message: job.message,
      ...(job.metadata && { metadata: job.metadata }),
      lease: job.lease,
    };
  }
}
