// Requests that run again when the node holding them is lost (`retry` on a task or a request):
// who has an attempt left, and the back-off each waits out first, on the scheduler's clock.
import type { Clock, TimerId } from '@troupe/transport';
import type { ScheduledRequest } from './request.js';

/** Whether `request`, its node lost, may run again from the start: it has an attempt left. */
export function canRetry(request: ScheduledRequest): boolean {
  return request.retries < (request.spec.retry?.attempts ?? 0);
}

/**
 * The back-offs of requests in `retrying`. Each ends in `resume` (the request waits for a node
 * again), unless the request ends first (a cancel, the run's end): then its timer goes with it,
 * so nothing fires into a finished request and no timer outlives the run.
 */
export class Backoffs {
  readonly #clock: Clock;
  readonly #resume: (request: ScheduledRequest) => void;
  readonly #timers = new Map<ScheduledRequest, TimerId>();

  constructor(clock: Clock, resume: (request: ScheduledRequest) => void) {
    this.#clock = clock;
    this.#resume = resume;
  }

  /** `request` has just moved to `retrying`: it resumes after its back-off (at once for none). */
  start(request: ScheduledRequest): void {
    const ms = request.spec.retry?.backoffMs ?? 0;
    if (ms <= 0) {
      this.#resume(request);
      return;
    }
    const timer = this.#clock.setTimeout(() => {
      this.#timers.delete(request);
      this.#resume(request);
    }, ms);
    this.#timers.set(request, timer);
  }

  /** `request` ended; if it was waiting out a back-off, that is over. */
  end(request: ScheduledRequest): void {
    const timer = this.#timers.get(request);
    if (timer === undefined) return;
    this.#timers.delete(request);
    this.#clock.clearTimeout(timer);
  }
}
