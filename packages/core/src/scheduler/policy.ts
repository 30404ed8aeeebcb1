import type { ScheduledRequest } from './request.js';

/**
 * Decides which of several requests a free node takes. `compare` returns a negative number when
 * `a` should run before `b`. Pluggable through the scheduler's options.
 */
export interface SchedulingPolicy {
  readonly name: string;
  compare(a: ScheduledRequest, b: ScheduledRequest): number;
}

/** Longest remaining path first (critical path, from cost estimates, else counts), then submission order. */
export const criticalPathFirst: SchedulingPolicy = {
  name: 'critical-path-first',
  compare: (a, b) => b.priority - a.priority || a.seq - b.seq,
};

/** Submission order only: what a naive FIFO pool does. Useful as a baseline. */
export const firstInFirstOut: SchedulingPolicy = {
  name: 'fifo',
  compare: (a, b) => a.seq - b.seq,
};
