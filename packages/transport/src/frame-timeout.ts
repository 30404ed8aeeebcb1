import type { Clock, TimerId } from './clock.js';
import { FrameTimeoutError } from './errors.js';

/**
 * A link's frame timeout: a frame that has begun and hears nothing more for `timeoutMs` closes
 * the link (`FrameTimeoutError`), so a header announcing megabytes followed by silence holds no
 * memory past it. The check is armed while a frame is in progress and re-armed from the last byte
 * received when it fires early, so a stream of chunks costs a clock read each, not a timer each.
 * Not counted while the link is paused: the peer waits on us.
 */
export class FrameTimeout {
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  /** Bytes of the frame in progress, 0 when there is none (or nobody reads any more). */
  readonly #pending: () => number;
  readonly #expired: (error: FrameTimeoutError) => void;
  #timer: TimerId | undefined;
  /** When bytes of the frame in progress last arrived. */
  #progressAt = 0;
  #paused = false;

  constructor(
    clock: Clock,
    timeoutMs: number,
    pending: () => number,
    expired: (error: FrameTimeoutError) => void,
  ) {
    this.#clock = clock;
    this.#timeoutMs = timeoutMs;
    this.#pending = pending;
    this.#expired = expired;
  }

  /** Bytes arrived and a frame is in progress. */
  progressed(): void {
    this.#progressAt = this.#clock.now();
    this.#timer ??= this.#clock.setTimeout(this.#check, this.#timeoutMs);
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    this.#progressAt = this.#clock.now();
  }

  stop(): void {
    if (this.#timer !== undefined) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  readonly #check = () => {
    this.#timer = undefined;
    const pending = this.#pending();
    if (pending === 0) return;
    const waited = this.#paused ? 0 : this.#clock.now() - this.#progressAt;
    if (waited >= this.#timeoutMs) {
      this.#expired(new FrameTimeoutError(pending, this.#timeoutMs));
      return;
    }
    this.#timer = this.#clock.setTimeout(this.#check, this.#timeoutMs - waited);
  };
}
