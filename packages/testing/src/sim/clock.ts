import type { Clock, TimerId } from '@troupe/core';

/** A timer armed on the simulated clock: a pending step until it fires or is cleared. */
export interface SimTimer {
  readonly id: number;
  readonly due: number;
  /** Who armed it ("host", or a node's name): a hung node's timers do not fire. */
  readonly owner: string;
  readonly callback: () => void;
}

/**
 * The simulator's clock: time moves only when the simulator fires a timer, to that timer's due
 * time. Armed timers are steps the explorer chooses among, like deliveries. `for(owner)` gives
 * the same clock with the owner recorded on every timer, so the timers of a hung node stop too.
 * It is also XState's clock (`createActor(machine, { clock })`).
 */
export class SimClock implements Clock {
  #now = 0;
  #nextId = 1;
  readonly #timers = new Map<number, SimTimer>();
  readonly #views = new Map<string, Clock>();

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): TimerId {
    return this.#arm('host', callback, ms);
  }

  clearTimeout(id: TimerId): void {
    this.#timers.delete(id as number);
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

  /** Armed timers, earliest first (ties in arming order). */
  timers(): SimTimer[] {
    return [...this.#timers.values()].sort((a, b) => a.due - b.due || a.id - b.id);
  }

  /**
   * The timers due soonest (all of them sharing the earliest due time), in arming order, leaving
   * out those whose owner `skip` names: what the simulator offers as steps, found without sorting.
   */
  soonest(skip?: (owner: string) => boolean): SimTimer[] {
    let due = Number.POSITIVE_INFINITY;
    let group: SimTimer[] = [];
    for (const timer of this.#timers.values()) {
      if (timer.due > due || skip?.(timer.owner)) continue;
      if (timer.due < due) {
        due = timer.due;
        group = [];
      }
      group.push(timer);
    }
    return group;
  }

  /** Fires one timer: time moves to its due point (never backwards). */
  fire(id: number): void {
    const timer = this.#timers.get(id);
    if (!timer) return;
    this.#timers.delete(id);
    this.#now = Math.max(this.#now, timer.due);
    timer.callback();
  }

  #arm(owner: string, callback: () => void, ms: number): number {
    const id = this.#nextId++;
    const delay = Number.isFinite(ms) && ms > 0 ? ms : 0;
    this.#timers.set(id, { id, due: this.#now + delay, owner, callback });
    return id;
  }
}
