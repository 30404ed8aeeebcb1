import type { Clock, TimerId } from '@troupe/core';

interface Timer {
  readonly id: number;
  readonly due: number;
  readonly callback: () => void;
}

/**
 * Virtual time. Timers fire only when a test (or the simulator) moves the clock, in order of
 * due time and then of creation, so a run is repeatable to the step. Implements troupe's
 * `Clock` and, being a superset of XState's clock, drives delayed transitions when passed as
 * `createActor(machine, { clock })`.
 */
export class VirtualClock implements Clock {
  #now: number;
  #nextId = 1;
  #timers: Timer[] = [];

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): TimerId {
    const delay = Number.isFinite(ms) && ms > 0 ? ms : 0;
    const timer: Timer = { id: this.#nextId++, due: this.#now + delay, callback };
    // Keep the list sorted by (due, id); insertion from the back is cheap for the common case
    // of timers armed in increasing due order.
    let index = this.#timers.length;
    while (index > 0 && this.#timers[index - 1]!.due > timer.due) index--;
    this.#timers.splice(index, 0, timer);
    return timer.id;
  }

  clearTimeout(id: TimerId): void {
    const index = this.#timers.findIndex((timer) => timer.id === id);
    if (index >= 0) this.#timers.splice(index, 1);
  }

  /** Timers armed and not yet fired or cleared. */
  get pending(): number {
    return this.#timers.length;
  }

  /** When the next timer is due, or undefined when none is armed. */
  nextDue(): number | undefined {
    return this.#timers[0]?.due;
  }

  /**
   * Fires the earliest timer, moving time to its due point. Returns false when none is armed.
   */
  fireNext(): boolean {
    const timer = this.#timers.shift();
    if (!timer) return false;
    this.#now = Math.max(this.#now, timer.due);
    timer.callback();
    return true;
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way (including timers
   * armed by those callbacks), each at its own due time. Returns how many fired.
   */
  advance(ms: number): number {
    if (!(ms >= 0)) throw new RangeError(`cannot move a clock by ${ms} ms`);
    const target = this.#now + ms;
    let fired = 0;
    while (this.#timers.length > 0 && this.#timers[0]!.due <= target) {
      this.fireNext();
      fired++;
    }
    this.#now = target;
    return fired;
  }

  /** Fires timers until none is left; throws after `limit` firings (a timer that re-arms forever). */
  runAll(limit = 100_000): number {
    let fired = 0;
    while (this.fireNext()) {
      if (++fired >= limit) throw new Error(`runAll: still firing after ${limit} timers`);
    }
    return fired;
  }
}
