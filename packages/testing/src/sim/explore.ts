import { setUnhandledErrorReporter } from '@troupe/transport';
import { SeededRandom } from '../seeded-random.js';
import { type FaultBudget, Simulation, type Step, type TraceEntry, type Violation } from './simulation.js';

/** What a scenario builds: the script that drives the world, and what the state hash may add. */
export interface World {
  /** Drives the world (builds, jobs, shutdown) and throws if something that must hold does not. */
  run(): Promise<void>;
  /** Extra state for the exhaustive search's hash: machine states the world exposes. */
  fingerprint?(): string;
}

/**
 * A world to explore: how to build it in a simulation (for the unbroken runtime, `variant` is
 * `'none'`, or the name of one of `variants`), which faults the explorer may inject, and a step
 * bound past which the run counts as making no progress.
 */
export interface Scenario {
  readonly name: string;
  readonly faults?: FaultBudget;
  /** Steps per schedule before "no progress" is reported. Default 5,000. */
  readonly maxSteps?: number;
  /** Names of deliberately broken runtimes this scenario can build. */
  readonly variants?: readonly string[];
  /**
   * An error reported with no caller left (`reportUnhandledError`: a handler that threw, a
   * promise nobody awaited) is a violation. Default false: such errors go to the trace.
   */
  readonly strictErrors?: boolean;
  /**
   * The URL of a module that exports this scenario (directly, or in an exported array), so that
   * an `ExplorerPool` worker process can load it by its name. Scenarios without one are explored
   * on the calling thread.
   */
  readonly module?: string;
  setup(sim: Simulation, variant: string): World;
}

/** Picks the next step of one schedule. */
export interface Chooser {
  choose(steps: readonly Step[], sim: Simulation): number;
}

/** A way to explore: hands out one chooser per schedule until it has no more. */
export interface Strategy {
  readonly name: string;
  /** The chooser for schedule number `index`, or undefined when the strategy is exhausted. */
  schedule(index: number): { seed: number; chooser: Chooser } | undefined;
  /** Called after each schedule with the choices it made and how many steps each had. */
  finished?(record: ScheduleRecord): void;
  /** Whether a schedule may stop early at a state seen before (exhaustive search). */
  readonly prunes?: boolean;
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

/** Everything needed to reproduce a schedule exactly. */
export interface Schedule {
  readonly scenario: string;
  readonly variant: string;
  readonly seed: number;
  /** The index of the step taken among the enabled steps, at each step. */
  readonly choices: readonly number[];
}

export interface ScheduleRecord {
  readonly choices: readonly number[];
  /** How many steps were enabled at each choice. */
  readonly widths: readonly number[];
  readonly pruned: boolean;
}

export interface RunResult {
  readonly schedule: Schedule;
  readonly violation: Violation | undefined;
  readonly steps: number;
  /** How many steps were enabled at each choice. */
  readonly widths: readonly number[];
  readonly pruned: boolean;
  readonly trace: readonly TraceEntry[];
}

/**
 * Between steps, every promise continuation that is due runs: a macrotask does that, as Node
 * drains all microtasks before and after each one. The immediates are queued in batches: Node
 * runs every immediate of a turn's check phase one after another, draining microtasks between
 * two of them, so each waiter still resumes with every continuation of the last step run, and one
 * turn of the event loop (with its poll for I/O) serves many steps. A world under the simulator
 * does no I/O and arms no real timers (the determinism rule), so nothing else runs between the
 * steps of a batch. One per schedule, so a schedule's batches do not depend on the one before.
 */
function batchedSettle(size = 64): () => Promise<void> {
  const waiting: Array<() => void> = [];
  let queued = 0;
  const serve = () => {
    queued--;
    waiting.shift()?.();
  };
  return () =>
    new Promise<void>((resolve) => {
      waiting.push(resolve);
      if (queued === 0) {
        for (let i = 0; i < size; i++) setImmediate(serve);
        queued = size;
      }
    });
}

/**
 * Runs one schedule of a scenario: builds the world, then takes the step `chooser` picks until the
 * script has finished and nothing is left to do, a monitor reports a violation, the world
 * deadlocks (the script waits and no step is enabled), or the step bound passes.
 */
export async function runSchedule(
  scenario: Scenario,
  variant: string,
  seed: number,
  chooser: Chooser,
  options: { tracing?: boolean; seen?: Set<string>; prefix?: number } = {},
): Promise<RunResult> {
  const sim = new Simulation({
    seed,
    ...(scenario.faults && { faults: scenario.faults }),
    tracing: options.tracing ?? false,
  });
  const choices: number[] = [];
  const widths: number[] = [];
  // Errors with no caller left (a node lost, a failed growth) belong to this world's trace.
  const restore = setUnhandledErrorReporter((error) => {
    const message = error instanceof Error ? error.message : String(error);
    sim.note(`unhandled: ${message}`);
    if (scenario.strictErrors) sim.violate('no unhandled errors', message);
  });
  try {
    return await run();
  } finally {
    restore();
  }
  async function run(): Promise<RunResult> {
    const world = scenario.setup(sim, variant);
    let failure: unknown;
    let done = false;
    world.run().then(
      () => {
        done = true;
      },
      (error: unknown) => {
        failure = error;
        done = true;
      },
    );
    const maxSteps = scenario.maxSteps ?? 5_000;
    const settleStep = batchedSettle();
    let pruned = false;
    for (;;) {
      await settleStep();
      if (failure !== undefined) {
        sim.violate('scenario', failure instanceof Error ? failure.message : String(failure));
        failure = undefined;
      }
      if (done && !sim.finished) {
        sim.finished = true;
        sim.note('script finished');
      }
      if (sim.violation) break;
      const steps = sim.enabled();
      const normal = steps.some((step) => step.kind !== 'fault');
      if (!normal) {
        if (!done) {
          sim.violate(
            'deadlock',
            `no step is enabled while the scenario still waits (${sim.network.pending} deliveries held, ${sim.clock.timers().length} timers, ${sim.nodes.filter((n) => sim.isHung(n.name)).length} hung nodes)`,
          );
        }
        break;
      }
      if (sim.steps >= maxSteps) {
        sim.violate('no progress', `the scenario did not finish within ${maxSteps} steps`);
        break;
      }
      if (options.seen && choices.length >= (options.prefix ?? 0)) {
        const state = `${sim.pendingFingerprint()}#${world.fingerprint?.() ?? ''}#${done}`;
        if (options.seen.has(state)) {
          pruned = true;
          break;
        }
        options.seen.add(state);
      }
      const index = chooser.choose(steps, sim);
      const step = steps[index];
      if (!step) throw new RangeError(`the chooser picked step ${index} of ${steps.length}`);
      choices.push(index);
      widths.push(steps.length);
      sim.take(step);
    }
    if (!pruned) {
      for (const monitor of sim.monitors) {
        if (sim.violation) break;
        monitor.atEnd?.(sim, done);
      }
    }
    return {
      schedule: { scenario: scenario.name, variant, seed, choices },
      violation: sim.violation,
      steps: sim.steps,
      widths,
      pruned,
      trace: sim.trace,
    };
  }
}

/** Replays a schedule step for step, with the trace on. */
export async function replay(scenario: Scenario, schedule: Schedule): Promise<RunResult> {
  let at = 0;
  return runSchedule(
    scenario,
    schedule.variant,
    schedule.seed,
    {
      choose: (steps) => {
        const index = schedule.choices[at++];
        if (index === undefined || index >= steps.length) {
          throw new Error(
            `the schedule does not replay: at step ${at} it chose ${index} of ${steps.length} enabled steps`,
          );
        }
        return index;
      },
    },
    { tracing: true },
  );
}

/** Prints a run's trace as a readable list of steps, notes and the violation. */
export function formatTrace(result: RunResult): string {
  const lines = [
    `scenario ${result.schedule.scenario}, variant ${result.schedule.variant}, seed ${result.schedule.seed}, ${result.steps} steps`,
  ];
  for (const entry of result.trace) lines.push(`[t=${entry.time}] ${entry.text}`);
  if (result.violation) lines.push(`violation (${result.violation.monitor}): ${result.violation.message}`);
  return lines.join('\n');
}

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

/**
 * Bounded exhaustive search: every choice at each of the first `depth` branching points (faults
 * included), depth first, re-running the world from the start for each schedule; a schedule stops
 * early at a state (pending steps, wire history, the world's fingerprint) another schedule has
 * already explored from.
 */
export function exhaustive(options: { depth?: number } = {}): Strategy {
  const depth = options.depth ?? 64;
  // The choices of the next schedule's prefix; beyond it, always the first enabled step.
  let prefix: number[] | undefined = [];
  return {
    name: 'exhaustive',
    prunes: true,
    schedule() {
      if (!prefix) return undefined;
      const forced = prefix;
      let at = 0;
      const chooser: Chooser & { prefixLength: number } = {
        prefixLength: forced.length,
        choose: () => forced[at++] ?? 0,
      };
      return { seed: 1, chooser };
    },
    finished(record) {
      // Backtrack: the deepest branching point (within the depth bound) with an untried choice.
      let branchingPoints = 0;
      const limit: number[] = [];
      for (const width of record.widths) {
        limit.push(width > 1 && branchingPoints < depth ? width : 1);
        if (width > 1) branchingPoints++;
      }
      for (let i = record.choices.length - 1; i >= 0; i--) {
        if (record.choices[i]! + 1 < limit[i]!) {
          prefix = [...record.choices.slice(0, i), record.choices[i]! + 1];
          return;
        }
      }
      prefix = undefined;
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
