// The embedded job server: the default `JobSource`, with the same lease rules as the PostgreSQL
// source (docs/jobs.md): a fencing token per take, expired leases taken again, attempts and dead
// jobs. Time is the injected clock's, so the model checker runs it unchanged.
import { type Clock, systemClock } from '@troupe/transport';
import { EventEmitter } from 'eventemitter3';
import {
  DuplicateJobError,
  JobAlreadyCompletedError,
  JobServerClosedError,
  LeaseLostError,
  LeaseRenewalError,
  TaskModuleError,
  UnknownJobError,
} from '../errors.js';
import { createIdSource, type IdSource } from '../ids.js';
import { checkShape, clock, duration, integer, type Shape, withMethods } from '../options.js';
import { internalSeams } from '../seams.js';
import { unloadableTask } from '../tasks/define.js';
import type { JobCompletion, JobRequest, JobSource, Lease } from './source.js';

export type MemoryJobStatus = 'queued' | 'leased' | 'completed' | 'dead';

export interface MemoryJob {
  readonly id: string;
  readonly job: string;
  readonly message: unknown;
  readonly metadata?: Readonly<Record<string, unknown>>;
  status: MemoryJobStatus;
  /** The holder's lease token while the job is leased (the newest fencing token, as a string). */
  lease: string | undefined;
  /** The newest fencing token: raised by one at every take (0: never taken). */
  fence: number;
  /** Takes so far; a take beyond `maxAttempts` makes the job dead instead. */
  attempts: number;
  readonly maxAttempts: number;
  /** When the holder's lease runs out (server clock, ms). */
  expiresAt: number | undefined;
  renewals: number;
  completion: JobCompletion | undefined;
  /** The lease token the accepted completion presented. */
  completedUnder: string | undefined;
  /** Completions beyond the first (always empty for a correct dispatcher). */
  extraCompletions: JobCompletion[];
}

export interface MemoryJobServerOptions {
  /** How long a lease lasts after it is taken or renewed. Default 5 minutes. */
  leaseMs?: number;
  /** Takes of one job without a result before it is dead instead of leased again. Default 5. */
  maxAttempts?: number;
  clock?: Clock;
  ids?: IdSource;
  /** The model checker's broken variants only (`@troupe/core/internal`). */
  [internalSeams]?: MemoryJobServerSeams;
}

/** Where a broken variant reaches inside one server (see `internalSeams`). */
export interface MemoryJobServerSeams {
  /** `complete` records a result whatever token it presents (no fencing of completions). */
  completeIgnoresToken?: boolean;
  /** `renew` extends the lease whatever token it presents (no fencing of renewals). */
  renewIgnoresToken?: boolean;
}

export interface MemoryJobServerEvents {
  /** A renewal was accepted; `lease` is the token it presented. */
  renewed: [job: MemoryJob, lease: string];
  completed: [job: MemoryJob];
}

type Taker = (job: MemoryJob | undefined) => void;

/**
 * The embedded job server: an in-memory queue of jobs with fenced leases, and renewals that a
 * test can make fail. The default `JobSource`, so an agent runs on one machine with nothing to set
 * up. Every take raises the job's fencing token; `renew` and `complete` must present the newest
 * one (`LeaseLostError` otherwise). A lease that runs out makes its job takeable again while the
 * server is open. It stays open for more jobs until `close()`: a dispatcher's `run()` ends only
 * once it is closed and drained.
 */
export class MemoryJobServer extends EventEmitter<MemoryJobServerEvents> implements JobSource {
  readonly #jobs = new Map<string, MemoryJob>();
  readonly #queue: MemoryJob[] = [];
  /** Jobs leased now: where a run-out lease is looked for. */
  readonly #leased = new Set<MemoryJob>();
  readonly #takers: Taker[] = [];
  /** Each job's place in the order jobs were added: of two run-out leases, the older job goes first. */
  readonly #order = new Map<MemoryJob, number>();
  readonly #failRenewals = new Map<string, number>();
  readonly #clock: Clock;
  readonly #ids: IdSource;
  readonly #leaseMs: number;
  readonly #maxAttempts: number;
  readonly #seams: MemoryJobServerSeams;
  /** Wakes waiting takers when the soonest lease runs out; armed only while a taker waits. */
  #expiryTimer: ReturnType<Clock['setTimeout']> | undefined;
  #closed = false;

  constructor(options: MemoryJobServerOptions = {}) {
    super();
    checkShape(options, serverShape, '');
    this.#clock = options.clock ?? systemClock;
    this.#ids = options.ids ?? createIdSource();
    this.#leaseMs = options.leaseMs ?? 5 * 60_000;
    this.#maxAttempts = options.maxAttempts ?? 5;
    this.#seams = options[internalSeams] ?? {};
  }

  /** Queues a job; returns its id. `maxAttempts` overrides the server's for this job. */
  add(spec: {
    job: string;
    message?: unknown;
    metadata?: Record<string, unknown>;
    id?: string;
    maxAttempts?: number;
  }): string {
    if (this.#closed) throw new JobServerClosedError(spec.job);
    // A worker imports the job's module: refused here, as `build` refuses such a task, rather than
    // failing in the worker (a relative path resolves against troupe's files there).
    const unloadable = unloadableTask(spec.job);
    if (unloadable !== undefined) throw new TaskModuleError(spec.job, unloadable);
    if (spec.maxAttempts !== undefined) integer(1)(spec.maxAttempts, 'maxAttempts');
    const id = spec.id ?? this.#ids.next('job');
    if (this.#jobs.has(id)) throw new DuplicateJobError(id);
    const job: MemoryJob = {
      id,
      job: spec.job,
      message: spec.message,
      ...(spec.metadata && { metadata: spec.metadata }),
      status: 'queued',
      lease: undefined,
      fence: 0,
      attempts: 0,
      maxAttempts: spec.maxAttempts ?? this.#maxAttempts,
      expiresAt: undefined,
      renewals: 0,
      completion: undefined,
      completedUnder: undefined,
      extraCompletions: [],
    };
    this.#jobs.set(id, job);
    this.#order.set(job, this.#order.size);
    this.#queue.push(job);
    this.#serveTakers();
    return id;
  }

  /**
   * No more jobs will be added: takers get `undefined` once the queue is empty, which is what ends
   * a dispatcher's `run()`. Jobs already queued or running are not affected, and a lease that
   * runs out after this stays its holder's: no take waits on another taker's lease, so every
   * dispatcher's `run()` ends once the queue is drained.
   */
  close(): void {
    this.#closed = true;
    this.#disarmExpiry();
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

  /**
   * The next job, leased to the caller with a new fencing token: a job whose lease ran out (while
   * the server is open), else the oldest queued one. Waits while there is none.
   */
  take(signal?: AbortSignal): Promise<JobRequest | undefined> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const ready = this.#next();
    if (ready) return Promise.resolve(this.#lease(ready));
    if (this.#closed) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      const taker: Taker = (job) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(job && this.#lease(job));
      };
      const onAbort = () => {
        const index = this.#takers.indexOf(taker);
        if (index >= 0) this.#takers.splice(index, 1);
        if (this.#takers.length === 0) this.#disarmExpiry();
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#takers.push(taker);
      this.#armExpiry();
    });
  }

  /**
   * Extends the job's lease from now. Refused with `LeaseLostError` when the token is not the
   * job's newest (another take has it) or the job is no longer leased. A lease that ran out but
   * that nobody has taken since is still its holder's, and is renewed (as the PostgreSQL source).
   */
  async renew(request: JobRequest, _signal?: AbortSignal): Promise<Lease> {
    const job = this.#jobs.get(request.id);
    if (!job) throw new LeaseRenewalError(`job ${request.id} does not exist`);
    const failures = this.#failRenewals.get(job.id) ?? 0;
    if (failures > 0) {
      this.#failRenewals.set(job.id, failures - 1);
      throw new LeaseRenewalError(`the job server refused to renew the lease of job ${job.id}`);
    }
    if (!this.#seams.renewIgnoresToken) this.#checkToken(job, request);
    if (job.status !== 'leased') throw new LeaseLostError(job.id, `it is ${job.status}, not leased`);
    job.expiresAt = this.#clock.now() + this.#leaseMs;
    job.renewals++;
    this.emit('renewed', job, request.lease);
    return { expiresAt: job.expiresAt };
  }

  /**
   * Records the job's one result. A token that is not the job's newest records nothing and is
   * refused with `LeaseLostError`; a second completion by the holder, with
   * `JobAlreadyCompletedError` (kept in `extraCompletions`, which a correct dispatcher leaves empty).
   */
  async complete(request: JobRequest, completion: JobCompletion): Promise<void> {
    const job = this.#jobs.get(request.id);
    if (!job) throw new UnknownJobError(request.id);
    if (!this.#seams.completeIgnoresToken) this.#checkToken(job, request);
    if (job.completion) {
      job.extraCompletions.push(completion);
      throw new JobAlreadyCompletedError(job.id);
    }
    if (job.status !== 'leased') throw new LeaseLostError(job.id, `it is ${job.status}, not leased`);
    job.completion = completion;
    job.completedUnder = request.lease;
    job.status = 'completed';
    job.lease = undefined;
    job.expiresAt = undefined;
    this.#leased.delete(job);
    // The expiry timer may have been armed for this lease: armed again for the others, if any.
    this.#disarmExpiry();
    this.#armExpiry();
    this.emit('completed', job);
  }

  #checkToken(job: MemoryJob, request: JobRequest): void {
    if (request.lease !== String(job.fence)) {
      throw new LeaseLostError(job.id, `it was taken again (token ${request.lease}, now ${job.fence})`);
    }
  }

  /** The job the next take gets: an expired lease's (open server only), else the queue's head. */
  #next(): MemoryJob | undefined {
    if (!this.#closed) {
      const now = this.#clock.now();
      for (;;) {
        // The oldest job whose lease ran out (by when it was added, as PostgreSQL orders them).
        let oldest: MemoryJob | undefined;
        for (const job of this.#leased) {
          if (job.expiresAt === undefined || job.expiresAt > now) continue;
          if (!oldest || this.#order.get(job)! < this.#order.get(oldest)!) oldest = job;
        }
        if (!oldest) break;
        this.#leased.delete(oldest);
        if (!this.#spent(oldest)) return oldest;
      }
    }
    for (let job = this.#queue.shift(); job; job = this.#queue.shift()) {
      if (!this.#spent(job)) return job;
    }
    return undefined;
  }

  /** A job taken `maxAttempts` times that comes up again is dead: no result, never taken again. */
  #spent(job: MemoryJob): boolean {
    if (job.attempts < job.maxAttempts) return false;
    // The take that finds it dead still raises the token: its last holder can no longer report.
    job.fence++;
    job.status = 'dead';
    job.lease = undefined;
    job.expiresAt = undefined;
    return true;
  }

  #lease(job: MemoryJob): JobRequest {
    job.fence++;
    job.attempts++;
    job.status = 'leased';
    job.lease = String(job.fence);
    job.expiresAt = this.#clock.now() + this.#leaseMs;
    this.#leased.add(job);
    return {
      id: job.id,
      job: job.job,
      message: job.message,
      ...(job.metadata && { metadata: job.metadata }),
      lease: job.lease,
    };
  }

  /** Hands takeable jobs to waiting takers, oldest taker first. */
  #serveTakers(): void {
    while (this.#takers.length > 0) {
      const job = this.#next();
      if (!job) break;
      this.#takers.shift()!(job);
    }
    if (this.#takers.length === 0) this.#disarmExpiry();
    else this.#armExpiry();
  }

  /**
   * One timer, at the soonest lease end, while takers wait on an open server. A renewal does not
   * move it: when it fires early it finds nothing expired and is armed again for the new end.
   */
  #armExpiry(): void {
    if (this.#expiryTimer !== undefined || this.#closed || this.#takers.length === 0) return;
    let soonest: number | undefined;
    for (const job of this.#leased) {
      if (job.expiresAt !== undefined && (soonest === undefined || job.expiresAt < soonest))
        soonest = job.expiresAt;
    }
    if (soonest === undefined) return;
    this.#expiryTimer = this.#clock.setTimeout(
      () => {
        this.#expiryTimer = undefined;
        this.#serveTakers();
      },
      Math.max(0, soonest - this.#clock.now()),
    );
  }

  #disarmExpiry(): void {
    if (this.#expiryTimer === undefined) return;
    this.#clock.clearTimeout(this.#expiryTimer);
    this.#expiryTimer = undefined;
  }
}

const serverShape: Shape<MemoryJobServerOptions> = {
  leaseMs: duration(1),
  maxAttempts: integer(1),
  clock,
  ids: withMethods('an IdSource', ['next']),
};
