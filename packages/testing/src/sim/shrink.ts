// Shrinking: a violation found after a long schedule comes back as a short one that still breaks
// the same monitor, so that a person reads a dozen steps instead of hundreds.
//
// A schedule's choices are indices into the steps enabled at each point; drop one step and every
// index after it may name a different step. So the shrinker works on *moves* (which step was
// taken: its label and its chain, e.g. "deliver on this direction", "crash node-1") and replays a
// candidate list of moves with a lenient chooser that takes each move when it is enabled, passes
// over the ones that no longer are, and goes on with the first enabled step (what bounded
// exhaustive search does past its prefix) when the list runs out. What a candidate run actually
// did is recorded as a plain schedule, which `replay` reproduces exactly.
import type { Scenario } from './scenario.js';
import { runSchedule, type Schedule } from './schedule.js';
import type { Step, Violation } from './simulation.js';
import type { Chooser } from './strategies.js';

/** A step as the shrinker knows it: enough to find "the same step" in another run. */
export interface Move {
  readonly kind: Step['kind'];
  readonly label: string;
  readonly chain: string;
}

export interface ShrinkOptions {
  /** Stop shrinking after this long (ms of wall time), with the shortest found so far. Default 10 s. */
  timeMs?: number;
  /** Stop after this many candidate runs. Default 20,000. */
  runs?: number;
}

export interface ShrinkResult {
  /** The shortest schedule found that still violates the same monitor; replays like any other. */
  readonly schedule: Schedule;
  readonly violation: Violation;
  /** The original schedule's length, in steps. */
  readonly steps: number;
  /** The shrunk schedule's length, in steps. */
  readonly shrunkSteps: number;
  /** Faults in the original and in the shrunk schedule. */
  readonly faults: number;
  readonly shrunkFaults: number;
  /** Candidate schedules run. */
  readonly runs: number;
  readonly ms: number;
}

/** One run of a candidate: what it violated, what it did. */
interface Attempt {
  readonly violation: Violation | undefined;
  readonly schedule: Schedule;
  readonly moves: readonly Move[];
  /** At each fault taken, the other faults that were enabled there. */
  readonly otherFaults: ReadonlyMap<number, readonly Move[]>;
}

/** How far ahead a move that is not enabled may be passed over for one that is. */
const LOOKAHEAD = 4;

/**
 * Shrinks a schedule that violates a monitor to the shortest one found that violates the same
 * monitor: cut the tail (let the world run on by default), delete chunks of moves (halves, then
 * quarters, ... then single moves: delta debugging), delete each fault, move each fault earlier,
 * swap each fault for another enabled at its place, and replace moves by the default step; a
 * round of passes that changed anything is followed by another, until one changes nothing or the
 * budget is spent. A candidate is kept when it violates the same
 * monitor (see `sameViolation`) and is smaller: fewer steps, then fewer faults, then faults
 * earlier. A `no progress` violation is as long as the scenario's step bound by definition, so it
 * comes back as it is.
 */
export async function shrink(
  scenario: Scenario,
  schedule: Schedule,
  options: ShrinkOptions = {},
): Promise<ShrinkResult> {
  const start = performance.now();
  const timeMs = options.timeMs ?? 10_000;
  const maxRuns = options.runs ?? 20_000;
  let runs = 0;
  const original = await attempt(scenario, schedule, { exact: schedule.choices });
  runs++;
  const target = original.violation;
  if (!target) throw new Error('the schedule to shrink violates nothing: it does not replay');
  let best = original;
  const done = () => {
    return {
      schedule: best.schedule,
      violation: best.violation!,
      steps: original.moves.length,
      shrunkSteps: best.moves.length,
      faults: faultsOf(original.moves),
      shrunkFaults: faultsOf(best.moves),
      runs,
      ms: performance.now() - start,
    };
  };
  if (target.monitor === 'no progress') return done();

  const outOfBudget = () => runs >= maxRuns || performance.now() - start >= timeMs;
  // Candidates already run (a later round tries many of the same again): their moves, as text.
  const tried = new Set<string>();
  /** Runs a candidate; keeps it if it is better. */
  const tryMoves = async (moves: readonly Move[]): Promise<boolean> => {
    if (outOfBudget()) return false;
    const key = moves.map((move) => `${move.kind}\t${move.chain}\t${move.label}`).join('\n');
    if (tried.has(key)) return false;
    tried.add(key);
    runs++;
    // A run that passes the best length cannot win: it is cut off there.
    const result = await attempt(scenario, schedule, { moves }, best.moves.length);
    if (!result.violation || !sameViolation(target, result.violation)) return false;
    if (compare(result.moves, best.moves) >= 0) return false;
    best = result;
    return true;
  };

  const passes: Array<() => Promise<boolean>> = [
    // The shortest prefix after which the default steps still reach the violation.
    async () => {
      const n = best.moves.length;
      for (let keep = 0; keep < n && !outOfBudget(); keep = keep === 0 ? 1 : keep * 2) {
        if (await tryMoves(best.moves.slice(0, keep))) return true;
      }
      return false;
    },
    // Delta debugging: delete chunks, from half the schedule down to single moves.
    async () => {
      let changed = false;
      for (let size = Math.max(1, best.moves.length >> 1); size >= 1 && !outOfBudget(); size >>= 1) {
        // From the end backwards: a deletion leaves the positions before it as they were.
        for (let at = best.moves.length - size; at >= 0 && !outOfBudget(); at -= size) {
          at = Math.min(at, best.moves.length - size);
          const moves = best.moves;
          if (await tryMoves([...moves.slice(0, at), ...moves.slice(at + size)])) changed = true;
        }
      }
      return changed;
    },
    // Each fault: deleted, or moved as early as it still breaks the same monitor.
    async () => {
      let changed = false;
      for (let i = best.moves.length - 1; i >= 0 && !outOfBudget(); i--) {
        const moves = best.moves;
        const move = moves[i];
        if (move?.kind !== 'fault') continue;
        const without = [...moves.slice(0, i), ...moves.slice(i + 1)];
        if (await tryMoves(without)) {
          changed = true;
          continue;
        }
        for (const to of [0, i >> 2, i >> 1, i - 1]) {
          if (to >= i || to < 0) continue;
          if (await tryMoves([...without.slice(0, to), move, ...without.slice(to)])) {
            changed = true;
            break;
          }
        }
      }
      return changed;
    },
    // Each fault swapped for another that was enabled at its place (a crash for a hang, say).
    async () => {
      let changed = false;
      for (let i = best.moves.length - 1; i >= 0 && !outOfBudget(); i--) {
        for (const other of best.otherFaults.get(i) ?? []) {
          const moves = best.moves;
          if (await tryMoves([...moves.slice(0, i), other, ...moves.slice(i + 1)])) {
            changed = true;
            break;
          }
        }
      }
      return changed;
    },
    // Each move replaced by the default step: the first enabled one, as past the end.
    async () => {
      let changed = false;
      for (let i = best.moves.length - 1; i >= 0 && !outOfBudget(); i--) {
        const moves = best.moves;
        // A move that was the first enabled step already is the default: the same run again.
        if (i >= moves.length || best.schedule.choices[i] === 0) continue;
        if (await tryMoves([...moves.slice(0, i), DEFAULT, ...moves.slice(i + 1)])) changed = true;
      }
      return changed;
    },
  ];
  for (let round = true; round && !outOfBudget(); ) {
    round = false;
    for (const pass of passes) if (await pass()) round = true;
  }
  return done();
}

/**
 * Whether a candidate's violation is "the same bug": the same monitor and, for the catch-all
 * monitors (the scenario's own checks, a step that threw), the same message once the parts that
 * name ids, times and counts are masked, since those monitors report many different bugs.
 */
export function sameViolation(target: Violation, found: Violation): boolean {
  if (target.monitor !== found.monitor) return false;
  if (target.monitor !== 'scenario' && target.monitor !== 'no uncaught exceptions') return true;
  return mask(target.message) === mask(found.message);
}

function mask(message: string): string {
  return message.replace(/[^\s,:;()]*\d[^\s,:;()]*/g, '#');
}

/** A move that matches whatever is enabled first. */
const DEFAULT: Move = { kind: 'action', label: '(default)', chain: '(default)' };

function faultsOf(moves: readonly Move[]): number {
  let count = 0;
  for (const move of moves) if (move.kind === 'fault') count++;
  return count;
}

/** Orders candidates: fewer steps, then fewer faults, then faults earlier. Negative: `a` is better. */
function compare(a: readonly Move[], b: readonly Move[]): number {
  if (a.length !== b.length) return a.length - b.length;
  const faults = faultsOf(a) - faultsOf(b);
  if (faults !== 0) return faults;
  return faultPositions(a) - faultPositions(b);
}

function faultPositions(moves: readonly Move[]): number {
  let sum = 0;
  for (const [i, move] of moves.entries()) if (move.kind === 'fault') sum += i;
  return sum;
}

/**
 * Runs the schedule's scenario, variant and seed, either with its exact choices or following a
 * list of moves leniently, and records what each step was.
 */
async function attempt(
  scenario: Scenario,
  schedule: Schedule,
  plan: { exact: readonly number[] } | { moves: readonly Move[] },
  limit = Number.POSITIVE_INFINITY,
): Promise<Attempt> {
  const taken: Move[] = [];
  const otherFaults = new Map<number, Move[]>();
  const chooser = 'exact' in plan ? exactChooser(plan.exact) : lenientChooser(plan.moves);
  const recording: Chooser = {
    choose(steps, sim) {
      if (taken.length >= limit) throw new CutOff();
      const index = chooser.choose(steps, sim);
      const step = steps[index];
      if (!step) return index;
      if (step.kind === 'fault') {
        otherFaults.set(
          taken.length,
          steps.filter((other) => other.kind === 'fault' && other !== step).map(moveOf),
        );
      }
      taken.push(moveOf(step));
      return index;
    },
  };
  try {
    const result = await runSchedule(scenario, schedule.variant, schedule.seed, recording);
    return { violation: result.violation, schedule: result.schedule, moves: taken, otherFaults };
  } catch (error) {
    if (!(error instanceof CutOff)) throw error;
    // The world is left where it stopped: nothing refers to it, and it arms no real timers.
    return { violation: undefined, schedule, moves: taken, otherFaults };
  }
}

function moveOf(step: Step): Move {
  return { kind: step.kind, label: step.label, chain: step.chain };
}

/** Thrown by a chooser to stop a run that has already lost. */
class CutOff extends Error {}

function exactChooser(choices: readonly number[]): Chooser {
  let at = 0;
  return {
    choose(steps) {
      const index = choices[at++];
      if (index === undefined || index >= steps.length)
        throw new Error(`the schedule does not replay: at step ${at} it chose ${index} of ${steps.length}`);
      return index;
    },
  };
}

/**
 * Follows `moves`: takes the next move if it is enabled (the step with the same label, else one
 * of the same kind on the same chain), else the first of the next few that is, passing over those
 * before it; if none is, takes the first enabled step and passes over the next move. Past the
 * end of the list, the first enabled step.
 */
function lenientChooser(moves: readonly Move[]): Chooser {
  let at = 0;
  return {
    choose(steps) {
      for (let k = at; k < Math.min(at + LOOKAHEAD, moves.length); k++) {
        const index = find(steps, moves[k]!);
        if (index >= 0) {
          at = k + 1;
          return index;
        }
      }
      if (at < moves.length) at++;
      return 0;
    },
  };
}

function find(steps: readonly Step[], move: Move): number {
  if (move === DEFAULT) return 0;
  let sameChain = -1;
  for (const [i, step] of steps.entries()) {
    if (step.kind !== move.kind || step.chain !== move.chain) continue;
    if (step.label === move.label) return i;
    if (sameChain < 0) sameChain = i;
  }
  return sameChain;
}
