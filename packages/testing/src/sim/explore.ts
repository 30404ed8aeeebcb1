// The explorer: runs a strategy's schedules of a scenario one after another on this thread until
// a violation (replayed to check it reproduces), the budget, or the strategy's end. ExplorerPool
// (pool.ts) shares the same work out among worker processes.
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
  const seen = strategy.prunes ? new Set<string>() : undefined;
  let schedules = 0;
  for (; schedules < limit && performance.now() - start < timeMs; ) {
    const next = strategy.schedule(schedules);
    if (!next) break;
    const prefix = (next.chooser as { prefixLength?: number }).prefixLength ?? 0;
    const result = await runSchedule(scenario, variant, next.seed, next.chooser, {
      ...(seen && { seen, prefix }),
    });
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
  return {
    scenario: scenario.name,
    variant,
    strategy: strategy.name,
    found: false,
    ms: performance.now() - start,
    schedules,
  };
}
