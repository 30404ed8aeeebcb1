// The ways to explore: each hands out one chooser per schedule. Random walk and PCT make schedule
// `i` from their seed and `i` alone (so a pool's workers can share them out by index); bounded
// exhaustive search learns the next schedule from the one before.
import { SeededRandom } from '../seeded-random.js';
import type { Simulation, Step } from './simulation.js';

/** Picks the next step of one schedule. */
export interface Chooser {
  choose(steps: readonly Step[], sim: Simulation): number;
  /**
   * Called before `choose` at each state, with the state's hash (worked out only if asked for):
   * false stops the schedule there (exhaustive search, at a state it has explored from before).
   */
  visit?(steps: readonly Step[], sim: Simulation, state: () => string): boolean;
}

/** A way to explore: hands out one chooser per schedule until it has no more. */
export interface Strategy {
  readonly name: string;
  /** The chooser for schedule number `index`, or undefined when the strategy is exhausted. */
  schedule(index: number): { seed: number; chooser: Chooser } | undefined;
  /** Called after each schedule with the choices it made and how many steps each had. */
  finished?(record: ScheduleRecord): void;
  /**
   * How to make this strategy again in another process, for strategies whose schedule `index`
   * depends on nothing but its index (so schedules can be split among workers): random walk, PCT.
   */
  readonly recipe?: StrategyRecipe;
}

/** A strategy by name and options: what an `ExplorerPool` worker rebuilds it from. */
export type StrategyRecipe =
  | { readonly name: 'random'; readonly options: Parameters<typeof randomWalk>[0] }
  | { readonly name: 'pct'; readonly options: Parameters<typeof pct>[0] };

/** The strategy a recipe describes. */
export function strategyFromRecipe(recipe: StrategyRecipe): Strategy {
  return recipe.name === 'random' ? randomWalk(recipe.options) : pct(recipe.options);
}

/** What a strategy's `finished` hears after each schedule: what it chose, among how many. */
export interface ScheduleRecord {
  readonly choices: readonly number[];
  /** How many steps were enabled at each choice. */
  readonly widths: readonly number[];
  readonly pruned: boolean;
}

/** Each schedule a seeded random walk: any enabled step, faults with probability `faultChance`. */
export function randomWalk(options: { seed?: number; faultChance?: number } = {}): Strategy {
  const base = options.seed ?? 1;
  const faultChance = options.faultChance ?? 0.05;
  return {
    name: 'random',
    recipe: { name: 'random', options },
    schedule(index) {
      const seed = base + index;
      const random = new SeededRandom(seed);
      return {
        seed,
        chooser: {
          choose(steps) {
            return pick(steps, random, faultChance, (candidates) => random.int(candidates.length));
          },
        },
      };
    },
  };
}

/**
 * PCT (probabilistic concurrency testing): each chain (a direction, a timer owner) gets a random
 * priority and the highest-priority enabled step runs, except at `depth - 1` random change points
 * where the running chain drops to the lowest priority. Finds bugs of depth `depth` with a
 * probability bounded below, unlike a random walk on long runs.
 */
export function pct(
  options: { seed?: number; depth?: number; steps?: number; faultChance?: number } = {},
): Strategy {
  const base = options.seed ?? 1;
  const depth = options.depth ?? 3;
  const expected = options.steps ?? 300;
  const faultChance = options.faultChance ?? 0.05;
  return {
    name: 'pct',
    recipe: { name: 'pct', options },
    schedule(index) {
      const seed = base + index;
      const random = new SeededRandom(seed);
      const priorities = new Map<string, number>();
      const changes = new Set(Array.from({ length: depth - 1 }, () => random.int(expected)));
      let step = 0;
      let lowest = 0;
      return {
        seed,
        chooser: {
          choose(steps) {
            const at = step++;
            return pick(steps, random, faultChance, (candidates) => {
              let best = 0;
              let bestPriority = Number.NEGATIVE_INFINITY;
              for (const [i, candidate] of candidates.entries()) {
                let priority = priorities.get(candidate.chain);
                if (priority === undefined) {
                  priority = random.float();
                  priorities.set(candidate.chain, priority);
                }
                if (priority > bestPriority) {
                  bestPriority = priority;
                  best = i;
                }
              }
              if (changes.has(at)) priorities.set(candidates[best]!.chain, --lowest);
              return best;
            });
          },
        },
      };
    },
  };
}

function pick(
  steps: readonly Step[],
  random: SeededRandom,
  faultChance: number,
  among: (candidates: readonly Step[]) => number,
): number {
  // Most steps offer no fault: then every step is a candidate, and nothing need be copied.
  if (!steps.some((step) => step.kind === 'fault')) return among(steps);
  const normal: number[] = [];
  const faults: number[] = [];
  for (const [index, step] of steps.entries()) (step.kind === 'fault' ? faults : normal).push(index);
  if (faults.length > 0 && (normal.length === 0 || random.float() < faultChance)) {
    return faults[random.int(faults.length)]!;
  }
  const chosen = among(normal.map((index) => steps[index]!));
  return normal[chosen]!;
}
