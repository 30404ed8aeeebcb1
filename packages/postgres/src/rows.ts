// What travels between PostgresJobSource and its statements: a completion on its way, a job a take
// leased (as the take's row, and as the source keeps it), and the lease token a request carries.
import { type JobCompletion, type JobRequest, LeaseLostError } from '@troupe/core';

/** A completion on its way to the database. */
export interface Completing {
  readonly id: string;
  readonly fence: string;
  readonly completion: JobCompletion;
}

/** A job leased to this agent, with the version of the metadata it carries. */
export type Taken = JobRequest & { metadataVersion: number };

export function requestOf({ metadataVersion: _, ...request }: Taken): JobRequest {
  return request;
}

/** A row a take returns (statements.ts, `take` and `completeAndTake`). */
export interface TakenRow {
  id: string;
  job: string;
  message: unknown;
  metadata: Record<string, unknown> | null;
  state: 'leased' | 'dead';
  fence: string;
  cancelRequested: boolean;
  cancelReason: string | null;
  metadataVersion: number;
  priority: number;
  /** bigint, as text. */
  seq: string;
}

/** The fencing token a request carries; a lease this source never gave is refused as lost. */
export function fenceOf(request: JobRequest): string {
  if (!/^\d{1,18}$/.test(request.lease)) {
    throw new LeaseLostError(request.id, `${JSON.stringify(request.lease)} is not a lease this source gave`);
  }
  return request.lease;
}
