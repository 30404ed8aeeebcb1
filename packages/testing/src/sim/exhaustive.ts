// Bounded exhaustive search: every schedule of a scenario up to a bound, depth first, re-running
// the world from the start for each (the world cannot be copied), made smaller two ways that keep
// every reachable state within the bound: sleep sets (a partial-order reduction: of two deliveries
// to different processes, only one order is explored when both orders reach the same state) and a
// cache of the states already explored from.
import type { Simulation, Step } from './simulation.js';
import type { Chooser, Strategy } from './strategies.js';

export interface ExhaustiveOptions {
  /**
   * The bound: every order of a schedule's first `steps` steps is explored; from there on each
   * schedule runs to its end taking the first enabled step (deliveries in order, no fault), its
   * monitors checked as in any run. Default 64.
   */
  steps?: number;
  /** The former name of `steps`. */
  depth?: number;
  /**
   * Bound the search by branching points instead (steps where more than one step was enabled):
   * every choice at each of the first `branching`, then the first enabled step. Sleep sets are
   * not sound under this bound (two orders of the same steps may branch differently): set
   * `reduce: false` with it.
   */
  branching?: number;
  /** At most this many faults per schedule (and never more than the scenario allows). */
  faults?: number;
  /** Partial-order reduction with sleep sets. Default true. */
  reduce?: boolean;
  /** Stop at a state already explored from (as deep or deeper, with no fewer choices). Default true. */
  cache?: boolean;
}

/** What a bounded exhaustive search that ran to its end has covered. */
export interface VerifiedBound {
  /** Every order of the first `steps` steps of every schedule was explored... */
  readonly steps: number;
  /** ...with up to this many faults among them. */
  readonly faults: number;
  /** Distinct states explored from (within the bound). */
  readonly states: number;
  /** Schedules run, and how many of them stopped at a state explored before or with every choice asleep. */
  readonly schedules: number;
  readonly pruned: number;
  /**
   * No schedule reached the step bound: every schedule with up to `faults` faults was explored
   * to its end, not only its first `steps` steps.
   */
  readonly complete: boolean;
}

/** A strategy that can say, once it has run out of schedules, what it has covered. */
export interface BoundedStrategy extends Strategy {
  verified(): VerifiedBound | undefined;
}

interface Sleeper {
  readonly key: string;
  readonly process: string;
}

/** One state on the current path: what was enabled there and which choices have been explored. */
interface Frame {
  readonly width: number;
  readonly faultsBefore: number;
  /** Branching points (more than one step enabled) on the path before this state. */
  readonly branchingBefore: number;
  readonly fault: readonly boolean[];
  readonly commutable: ReadonlyArray<Sleeper | undefined>;
  /** Deliveries that need not be taken here: an order with them first was explored already. */
  readonly sleep: readonly Sleeper[];
  /** The choices explored from here before `taken`, each with whether it acted on its receiver alone. */
  readonly explored: Array<{ readonly index: number; readonly clean: boolean }>;
  taken: number;
  takenClean: boolean | undefined;
}

/**
 * Bounded exhaustive search. Within the bound, a schedule stops early at a state whose hash (what
 * is pending, the packets each direction has carried, the world's fingerprint, the random
 * source's position) was explored from before at no greater depth and with no more choices asleep
 * than now; and a delivery is not taken right after another delivery to a different process when
 * the other order was explored already (sleep sets). The second is sound when processes share
 * nothing but the wire: each step checks it (`Simulation.lastStepClean`), and a step that acted
 * on another process (killed a node, discarded what was on the way to it, made another node
 * write) commutes with nothing. When the search runs out of schedules, `verified()` says what it
 * covered.
 */
export function exhaustive(options: ExhaustiveOptions = {}): BoundedStrategy {
  const bound =
    options.steps ?? options.depth ?? (options.branching === undefined ? 64 : Number.POSITIVE_INFINITY);
  const branchingBound = options.branching ?? Number.POSITIVE_INFINITY;
  const faultLimit = options.faults ?? Number.POSITIVE_INFINITY;
  const reduce = options.reduce ?? true;
  const caching = options.cache ?? true;
  const stack: Frame[] = [];
  const cache = new Map<number, { depth: number; sleep: readonly string[] }>();
  let exhausted = false;
  let schedules = 0;
  let pruned = 0;
  let states = 0;
  let reachedBound = false;
  let faults: number | undefined;

  function allowed(frame: Frame, index: number): boolean {
    return !frame.fault[index] || frame.faultsBefore < (faults ?? 0);
  }

  function asleep(frame: Frame, index: number): boolean {
    const info = frame.commutable[index];
    return info !== undefined && frame.sleep.some((sleeper) => sleeper.key === info.key);
  }

  /** The deliveries asleep in a new state: those of its parent, and the parent's explored choices, that commute with the step just taken. */
  function sleepAfter(parent: Frame | undefined, sim: Simulation, steps: readonly Step[]): Sleeper[] {
    if (!reduce || !parent?.takenClean) return [];
    const taken = parent.commutable[parent.taken];
    if (!taken) return [];
    const candidates: Sleeper[] = [...parent.sleep];
    for (const { index, clean } of parent.explored) {
      const info = parent.commutable[index];
      if (clean && info) candidates.push(info);
    }
    const enabled = new Set<string>();
    for (const step of steps) {
      const info = sim.commutable(step);
      if (info) enabled.add(info.key);
    }
    return candidates.filter((sleeper) => sleeper.process !== taken.process && enabled.has(sleeper.key));
  }

  return {
    name: 'exhaustive',
    schedule() {
      if (exhausted) return undefined;
      let at = 0;
      let next = 0;
      const chooser: Chooser = {
        visit(steps, sim, state) {
          faults ??= Math.min(faultLimit, sim.budget.max);
          if (at < stack.length) {
            const frame = stack[at]!;
            if (frame.width !== steps.length)
              throw new Error(
                `exhaustive search: the world is not deterministic (step ${at} had ${frame.width} choices, now ${steps.length})`,
              );
            next = frame.taken;
            return true;
          }
          // Past the bound (the path has no frame for this state): the first enabled step.
          if (at > stack.length) {
            next = 0;
            return true;
          }
          const parent = stack[at - 1];
          if (parent) parent.takenClean = sim.lastStepClean;
          const branchingBefore = parent ? parent.branchingBefore + (parent.width > 1 ? 1 : 0) : 0;
          if (at >= bound || branchingBefore >= branchingBound) {
            reachedBound = true;
            next = 0;
            return true;
          }
          const sleep = sleepAfter(parent, sim, steps);
          const keys = sleep.map((sleeper) => sleeper.key);
          if (caching) {
            const hash = hashString(state());
            const seen = cache.get(hash);
            if (seen && seen.depth <= at && seen.sleep.every((key) => keys.includes(key))) return false;
            if (!seen) states++;
            if (!seen || at <= seen.depth) cache.set(hash, { depth: at, sleep: keys });
          } else states++;
          const frame: Frame = {
            width: steps.length,
            faultsBefore: sim.faults,
            branchingBefore,
            fault: steps.map((step) => step.kind === 'fault'),
            commutable: steps.map((step) => sim.commutable(step)),
            sleep,
            explored: [],
            taken: -1,
            takenClean: undefined,
          };
          const first = firstChoice(frame, 0);
          if (first === undefined) return false;
          frame.taken = first;
          stack.push(frame);
          next = first;
          return true;
        },
        choose() {
          at++;
          return next;
        },
      };
      return { seed: 1, chooser };
    },
    finished(record) {
      schedules++;
      if (record.pruned) pruned++;
      // Backtrack: the deepest state on the path with a choice left to explore.
      while (stack.length > 0) {
        const frame = stack[stack.length - 1]!;
        frame.explored.push({ index: frame.taken, clean: frame.takenClean ?? false });
        const next = firstChoice(frame, frame.taken + 1);
        if (next !== undefined) {
          frame.taken = next;
          frame.takenClean = undefined;
          return;
        }
        stack.pop();
      }
      exhausted = true;
    },
    verified() {
      if (!exhausted) return undefined;
      return { steps: bound, faults: faults ?? 0, states, schedules, pruned, complete: !reachedBound };
    },
  };

  function firstChoice(frame: Frame, from: number): number | undefined {
    for (let i = from; i < frame.width; i++) if (allowed(frame, i) && !asleep(frame, i)) return i;
    return undefined;
  }
}

/** A 53-bit hash of a string (two 32-bit multiplicative hashes, mixed): the state cache's key. */
function hashString(text: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}
