import type { Clock, TimerId } from '@troupe/core';

/** A timer armed on a virtual clock and not yet fired or cleared. */
export interface VirtualTimer {
  readonly id: number;
  readonly due: number;
  /** Who armed it: "host" on the clock itself, the name given to `for(owner)` on a view. */
  readonly owner: string;
}

interface Timer extends VirtualTimer {
  readonly callback: () => void;
}

/**
 * Virtual time: troupe's one fake clock, for unit tests and for the simulator alike. Timers fire
 * only when a test (or the simulator) moves the clock, in order of due time and then of arming,
 * so a run is repeatable to the step. A test moves it with `advance`, `fireNext` or `runAll`; the
 * simulator instead treats armed timers as steps to choose among (`soonest`, then `fire(id)`), and
 * gives each node a view (`for(owner)`) so the timers of a hung node can be held back.
 * Implements troupe's `Clock` and, being a superset of XState's clock, drives delayed transitions
 * when passed as `createActor(machine, { clock })`.
 */
export class VirtualClock implements Clock {
  #now: number;
  #nextId = 1;
  /** Sorted by (due, id): the next timer is the first, and equal due times keep arming order. */
  #timers: Timer[] = [];
  readonly #views = new Map<string, Clock>();

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): TimerId {
    return this.#arm('host', callback, ms);
  }

  clearTimeout(id: TimerId): void {
    const index = this.#timers.findIndex((timer) => timer.id === id);
    if (index >= 0) this.#timers.splice(index, 1);
  }

  /** This clock, with `owner` recorded on the timers armed through it. */
  for(owner: string): Clock {
    let view = this.#views.get(owner);
    if (!view) {
      view = {
        now: () => this.#now,
        setTimeout: (callback, ms) => this.#arm(owner, callback, ms),
        clearTimeout: (id) => this.clearTimeout(id),
      };
      this.#views.set(owner, view);
    }
    return view;
  }

  /** Timers armed and not yet fired or cleared. */
  get pending(): number {
    return this.#timers.length;
  }

  /** When the next timer is due, or undefined when none is armed. */
  nextDue(): number | undefined {
    return this.#timers[0]?.due;
  }

  /** Armed timers, earliest first (ties in arming order). */
  timers(): VirtualTimer[] {
    return this.#timers.slice();
  }

  /**
   * The timers due soonest (all of them sharing the earliest due time), in arming order, leaving
   * out those whose owner `skip` names: what the simulator offers as steps.
   */
  soonest(skip?: (owner: string) => boolean): VirtualTimer[] {
    const group: VirtualTimer[] = [];
    for (const timer of this.#timers) {
      if (group.length > 0 && timer.due > group[0]!.due) break;
      if (!skip?.(timer.owner)) group.push(timer);
    }
    return group;
  }

  /** Fires one armed timer, moving time to its due point (never backwards). False if it is not armed. */
  fire(id: number): boolean {
    const index = this.#timers.findIndex((timer) => timer.id === id);
    if (index < 0) return false;
    const [timer] = this.#timers.splice(index, 1);
    this.#run(timer!);
    return true;
  }

  /**
   * Fires the earliest timer, moving time to its due point. Returns false when none is armed.
   */
  fireNext(): boolean {
    const timer = this.#timers.shift();
    if (!timer) return false;
    this.#run(timer);
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

  #run(timer: Timer): void {
    this.#now = Math.max(this.#now, timer.due);
    timer.callback();
  }

  #arm(owner: string, callback: () => void, ms: number): number {
    const delay = Number.isFinite(ms) && ms > 0 ? ms : 0;
    const timer: Timer = { id: this.#nextId++, due: this.#now + delay, owner, callback };
    // Insertion from the back is cheap for the common case of timers armed in increasing due order.
    let index = this.#timers.length;
    while (index > 0 && this.#timers[index - 1]!.due > timer.due) index--;
    this.#timers.splice(index, 0, timer);
    return timer.id;
  }
}
