import type { NodeExit } from '../errors.js';
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
