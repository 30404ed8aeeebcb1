// The yardstick for shrinking: the shortest counterexample bounded exhaustive search finds for a
// bug, by depth-first search over every choice at the first `depth` branching points, for depth 0,
// 1, 2, ... until some schedule breaks the monitor. Slow (it is what shrinking saves a person from
// waiting for); `check:model -- --shortest` runs it beside the shrinker to measure how close the
// shrinker comes.

import { exhaustive } from './exhaustive.js';
import type { Scenario } from './scenario.js';
import { runSchedule, type Schedule } from './schedule.js';
import { sameViolation } from './shrink.js';
import type { Violation } from './simulation.js';
import type { Chooser } from './strategies.js';

export interface ShortestResult {
  /** The shortest violating schedule found, if any was within the budget. */
  readonly schedule?: Schedule;
  readonly violation?: Violation;
  readonly steps?: number;
  /** The deepest branching depth searched, and whether its tree was searched to the end. */
  readonly depth: number;
  readonly complete: boolean;
  /** The first depth at which a violation was found, and the depth of the shortest. */
  readonly foundAt?: number;
  readonly shortestAt?: number;
  readonly schedules: number;
  readonly ms: number;
}

/**
 * The shortest schedule of `variant` that violates the same monitor as `target` (as `shrink`
 * judges it), searching depth 0, 1, 2, ... `maxDepth`, and `extraDepth` (default 2) more depths
 * after the first where anything is found (a schedule with more branching may be shorter).
 * Within a depth every schedule is run (no early stop at the first violation), but a schedule is
 * cut off once it is as long as the best found, and stops at a state it has already reached in as
 * few steps. The search stops at the time budget, keeping the shortest so far.
 */
export async function shortestCounterexample(
  scenario: Scenario,
  variant: string,
  target: Violation,
  options: { maxDepth?: number; extraDepth?: number; timeMs?: number } = {},
): Promise<ShortestResult> {
  const maxDepth = options.maxDepth ?? 12;
  const extraDepth = options.extraDepth ?? 2;
  const timeMs = options.timeMs ?? 60_000;
  const start = performance.now();
  let schedules = 0;
  let best: { schedule: Schedule; violation: Violation } | undefined;
  let reached = 0;
  let complete = false;
  let foundAt: number | undefined;
  let shortestAt: number | undefined;
  for (let depth = 0; depth <= maxDepth; depth++) {
    if (foundAt !== undefined && depth > foundAt + extraDepth) break;
    reached = depth;
    // Its state cache explores a state reached again in fewer steps again; no sleep sets, which
    // a bound in branching points does not keep sound.
    const strategy = exhaustive({ branching: depth, reduce: false });
    complete = false;
    for (let index = 0; ; index++) {
      if (performance.now() - start >= timeMs) break;
      const next = strategy.schedule(index);
      if (!next) {
        complete = true;
        break;
      }
      const choices: number[] = [];
      const widths: number[] = [];
      const limit = best?.schedule.choices.length ?? Number.POSITIVE_INFINITY;
      const chooser: Chooser = {
        // A schedule stops once it is as long as the best found.
        visit: (enabled, sim, state) =>
          choices.length < limit - 1 && (next.chooser.visit?.(enabled, sim, state) ?? true),
        choose(enabled, sim) {
          const choice = next.chooser.choose(enabled, sim);
          choices.push(choice);
          widths.push(enabled.length);
          return choice;
        },
      };
      schedules++;
      const result = await runSchedule(scenario, variant, next.seed, chooser);
      strategy.finished?.({ choices, widths, pruned: result.pruned });
      if (result.violation && sameViolation(target, result.violation)) {
        if (!best || result.schedule.choices.length < best.schedule.choices.length) {
          best = { schedule: result.schedule, violation: result.violation };
          shortestAt = depth;
        }
      }
    }
    if (!complete) break;
    if (best && foundAt === undefined) foundAt = depth;
  }
  return {
    ...(best && { schedule: best.schedule, violation: best.violation, steps: best.schedule.choices.length }),
    depth: reached,
    ...(foundAt !== undefined && { foundAt }),
    ...(shortestAt !== undefined && { shortestAt }),
    complete,
    schedules,
    ms: performance.now() - start,
  };
}
