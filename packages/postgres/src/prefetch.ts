// Jobs a completion took in its own statement (complete-and-take) for the take that follows it:
// a dispatcher's slot takes again as soon as it has reported, so the job it will ask for comes with
// the report, one round trip instead of two. Kept here until a take claims it; one that no take
// claims within `claimMs`, or that is still here at `drain` (the source closing), goes to
// `unclaimed`, which gives it back to the queue.
import type { Clock } from '@troupe/core';

export interface PrefetchedOptions<T> {
  readonly clock: Clock;
  readonly claimMs: number;
  readonly unclaimed: (item: T) => Promise<void>;
}

export class Prefetched<T> {
  readonly #options: PrefetchedOptions<T>;
  readonly #entries: Array<{ item: T; timer: unknown }> = [];
  /** The last take's signal (a dispatcher passes its stop signal to every take). */
  #taker: { signal: AbortSignal | undefined } | undefined;

  constructor(options: PrefetchedOptions<T>) {
    this.#options = options;
  }

  /** A take was asked for, with `signal`. */
  taking(signal: AbortSignal | undefined): void {
    this.#taker = { signal };
  }

  /**
   * Whether a completion should take for the next take: something takes from this source (a
   * source that only reports, for jobs dispatched from elsewhere, never prefetches), and its last
   * take's signal is not aborted (a dispatcher that is stopping takes no more).
   */
  get wanted(): boolean {
    return this.#taker !== undefined && !this.#taker.signal?.aborted;
  }

  keep(item: T): void {
    const entry = { item, timer: undefined as unknown };
    entry.timer = this.#options.clock.setTimeout(() => {
      const at = this.#entries.indexOf(entry);
      if (at < 0) return;
      this.#entries.splice(at, 1);
      void this.#options.unclaimed(item);
    }, this.#options.claimMs);
    this.#entries.push(entry);
  }

  /** The oldest kept item, now the caller's; undefined when none is kept. */
  claim(): T | undefined {
    const entry = this.#entries.shift();
    if (entry) this.#options.clock.clearTimeout(entry.timer);
    return entry?.item;
  }

  /** Every kept item goes to `unclaimed`; resolves when they all have. */
  async drain(): Promise<void> {
    const entries = this.#entries.splice(0);
    for (const { timer } of entries) this.#options.clock.clearTimeout(timer);
    await Promise.all(entries.map(({ item }) => this.#options.unclaimed(item)));
  }
}
