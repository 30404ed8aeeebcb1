// Request timeouts (`timeoutMs` on a task or a request): how long one run may hold its node. A
// timer on the scheduler's clock runs while the request is active (executing) and stops when it
// blocks, yields or ends, so waits never count; a new run (a retry, a restart) starts afresh.
import type { Clock, TimerId } from '@troupe/transport';
import type { ScheduledRequest } from './request.js';

export class Deadlines {
  readonly #clock: Clock;
  readonly #expire: (request: ScheduledRequest) => void;
  readonly #timers = new Map<ScheduledRequest, TimerId>();

  constructor(clock: Clock, expire: (request: ScheduledRequest) => void) {
    this.#clock = clock;
    this.#expire = expire;
  }

  /** `request` (with a `timeoutMs`) became active on its node: what is left of its time runs. */
  started(request: ScheduledRequest): void {
    const left = Math.max(0, request.spec.timeoutMs! - request.ranMs);
    const timer = this.#clock.setTimeout(() => {
      this.#timers.delete(request);
      this.#expire(request);
    }, left);
    this.#timers.set(request, timer);
  }

  /** `request` is no longer active (it blocked, yielded or ended): its time stops. */
  stopped(request: ScheduledRequest): void {
    const timer = this.#timers.get(request);
    if (timer === undefined) return;
    this.#timers.delete(request);
    this.#clock.clearTimeout(timer);
  }
}
