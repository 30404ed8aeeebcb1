// The explorer: runs a strategy's schedules of a scenario one after another on this thread until
// a violation (replayed to check it reproduces), the budget, or the strategy's end. ExplorerPool
// (pool.ts) shares the same work out among worker processes.

import { type BoundedStrategy, exhaustive, type VerifiedBound } from './exhaustive.js';
import type { Scenario } from './scenario.js';
import { formatTrace, replay, runSchedule, type Schedule } from './schedule.js';
import type { Violation } from './simulation.js';
import type { Strategy } from './strategies.js';

export interface ExploreOptions {
  /** Stop after this many schedules. Default 10,000. */
  schedules?: number;
  /** Stop after this long (ms of wall time). Default 10 s. */
  timeMs?: number;
  /** Replay the violation's schedule to check it reproduces. Default true. */
  replay?: boolean;
}

export interface ExploreResult {
  readonly scenario: string;
  readonly variant: string;
  readonly strategy: string;
  readonly found: boolean;
  /** Time to the first violation, or the whole run. */
  readonly ms: number;
  readonly schedules: number;
  readonly violation?: Violation;
  readonly schedule?: Schedule;
  /** Replaying the schedule reproduced the same violation. */
  readonly replayed?: boolean;
  readonly trace?: string;
  /** A bounded exhaustive search that ran out of schedules without a violation: what it covered. */
  readonly verified?: VerifiedBound;
}

/** Explores schedules of a scenario with a strategy until a violation, the budget, or exhaustion. */
export async function explore(
  scenario: Scenario,
  variant: string,
  strategy: Strategy,
  options: ExploreOptions = {},
): Promise<ExploreResult> {
  const limit = options.schedules ?? 10_000;
  const timeMs = options.timeMs ?? 10_000;
  const start = performance.now();
  let schedules = 0;
  for (; schedules < limit && performance.now() - start < timeMs; ) {
    const next = strategy.schedule(schedules);
    if (!next) break;
    const result = await runSchedule(scenario, variant, next.seed, next.chooser);
    schedules++;
    strategy.finished?.({ choices: result.schedule.choices, widths: result.widths, pruned: result.pruned });
    if (result.violation) {
      const ms = performance.now() - start;
      let replayed: boolean | undefined;
      let trace: string | undefined;
      if (options.replay ?? true) {
        const again = await replay(scenario, result.schedule);
        replayed =
          again.violation?.monitor === result.violation.monitor &&
          again.violation?.message === result.violation.message;
        trace = formatTrace(again);
      }
      return {
        scenario: scenario.name,
        variant,
        strategy: strategy.name,
        found: true,
        ms,
        schedules,
        violation: result.violation,
        schedule: result.schedule,
        ...(replayed !== undefined && { replayed }),
        ...(trace !== undefined && { trace }),
      };
    }
  }
  // Only a search that has run out of schedules (within the budget or just as it ran out) says.
  const verified = (strategy as Partial<BoundedStrategy>).verified?.();
  return {
    scenario: scenario.name,
    variant,
    strategy: strategy.name,
    found: false,
    ms: performance.now() - start,
    schedules,
    ...(verified && { verified }),
  };
}

export interface VerifyOptions {
  /** The first bound (steps); each round doubles it. Default 16. */
  steps?: number;
  /** No bound beyond this. Default 1,024. */
  maxSteps?: number;
  /** Faults per schedule, at most (and at most the scenario's budget). */
  faults?: number;
  /** Schedules in all rounds together. Default 1,000,000. */
  schedules?: number;
  /** Wall time for all rounds together. Default 60 s. */
  timeMs?: number;
}

/**
 * Bounded exhaustive search with a bound that doubles while the budget lasts (iterative
 * deepening): short counterexamples come first, and `verified` is the deepest bound searched to
 * its end (absent if not even the first was). Stops at a violation, when a round needed no bound
 * (it explored every schedule to its end), or when the budget runs out.
 */
export async function verify(
  scenario: Scenario,
  variant: string,
  options: VerifyOptions = {},
  run: typeof explore = explore,
): Promise<ExploreResult> {
  const maxSteps = options.maxSteps ?? 1_024;
  const scheduleLimit = options.schedules ?? 1_000_000;
  const timeMs = options.timeMs ?? 60_000;
  const start = performance.now();
  let schedules = 0;
  let verified: VerifiedBound | undefined;
  for (let steps = options.steps ?? 16; steps <= maxSteps; steps *= 2) {
    const left = timeMs - (performance.now() - start);
    if (left <= 0 || schedules >= scheduleLimit) break;
    const strategy = exhaustive({ steps, ...(options.faults !== undefined && { faults: options.faults }) });
    const result = await run(scenario, variant, strategy, {
      schedules: scheduleLimit - schedules,
      timeMs: left,
    });
    schedules += result.schedules;
    if (result.found) return { ...result, schedules, ms: performance.now() - start };
    if (!result.verified) break;
    verified = result.verified;
    if (verified.complete) break;
  }
  return {
    scenario: scenario.name,
    variant,
    strategy: 'exhaustive',
    found: false,
    ms: performance.now() - start,
    schedules,
    ...(verified && { verified }),
  };
}
