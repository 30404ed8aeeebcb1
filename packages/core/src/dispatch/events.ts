import type { JobCompletion, JobRequest } from '../jobs/source.js';
import type { PacketBodies } from '../packets.js';
import type { JobSlotState } from './job-slot.machine.js';

export interface JobStartedEvent {
  job: JobRequest;
  slot: number;
  pid: number | undefined;
}

export interface JobCompletedEvent {
  job: JobRequest;
  slot: number;
  /** The reported result; undefined when the job ends without one (`reason` says why). */
  completion: JobCompletion | undefined;
  reason?: string;
}

/** One attempt to renew a job's lease: renewed, failed (retried), or failed for good (lost). */
export interface JobLeaseEvent {
  job: JobRequest;
  slot: number;
  outcome: 'renewed' | 'failed' | 'lost';
  error?: Error;
}

export interface JobDispatcherEvents {
  /** The job message reached its worker. */
  started: [event: JobStartedEvent];
  /** The job's result was reported to the source (or the job ended without one). */
  completed: [event: JobCompletedEvent];
  /** A log line from a running job. */
  log: [job: JobRequest, body: PacketBodies['Log']];
  /** Something about a job went wrong: a worker crash (with its output), a failed report. */
  jobError: [job: JobRequest, error: Error];
  /** A renewal of a running job's lease was attempted. */
  lease: [event: JobLeaseEvent];
  /** A slot's machine changed state. */
  state: [slot: number, state: JobSlotState, jobId: string | undefined];
}
