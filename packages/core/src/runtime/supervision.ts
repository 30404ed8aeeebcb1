// Supervision of a runtime's pools, in the style of OTP supervisors' restart intensity: a pool
// replaces the nodes it loses, but no more than `max` within `periodMs`. Past that it starts no
// more nodes and says why, so a task that crashes every node it runs on cannot make the runtime
// launch processes for ever.
import type { Clock } from '@troupe/transport';
import { RestartBudgetError } from '../errors.js';

/** How many nodes a pool may lose within `periodMs` and still replace them. */
export interface RestartBudget {
  max: number;
  periodMs: number;
}

export const DEFAULT_RESTART_BUDGET: Readonly<RestartBudget> = Object.freeze({ max: 10, periodMs: 60_000 });

/** The losses of each pool within the budget's period, on the runtime's clock. */
export class Supervision {
  readonly #budget: Readonly<RestartBudget>;
  readonly #clock: Clock;
  readonly #losses = new Map<string, { at: number[]; last: Error }>();

  constructor(budget: Readonly<RestartBudget>, clock: Clock) {
    this.#budget = budget;
    this.#clock = clock;
  }

  /** A node of `pool` was lost, for `error`. */
  lost(pool: string, error: Error): void {
    const losses = this.#losses.get(pool) ?? { at: [], last: error };
    losses.at.push(this.#clock.now());
    losses.last = error;
    this.#losses.set(pool, losses);
  }

  /** Why `pool` may not start another node now, or undefined when it may. */
  refusal(pool: string): RestartBudgetError | undefined {
    const losses = this.#losses.get(pool);
    if (!losses) return undefined;
    const since = this.#clock.now() - this.#budget.periodMs;
    while (losses.at.length > 0 && losses.at[0]! <= since) losses.at.shift();
    if (losses.at.length <= this.#budget.max) return undefined;
    return new RestartBudgetError(pool, losses.at.length, this.#budget, losses.last);
  }
}
