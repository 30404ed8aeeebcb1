/**
 * Upper bounds for P|prec|Cmax before the exact search: the serial schedule generation scheme
 * (each task of a precedence-feasible list, in turn, at the earliest time its predecessors have
 * ended and a processor is free for its whole length, filling earlier gaps) and an iterated local
 * search over the list. The serial scheme yields active schedules, which include an optimal one
 * (Sprecher, Kolisch & Drexl 1995), so unlike the non-delay list schedule it can reach optima that
 * need inserted idle time. Seeded and deterministic.
 */
import { mulberry32 } from './generate.js';
import type { Problem } from './problem.js';

/**
 * The serial schedule of a list: each task in turn at the earliest time its predecessors (its
 * successors when `backward`, scheduling from the end) have ended and a processor is free for its
 * whole length. `starts` gets the start times (times from the end to its finish when backward);
 * returns the makespan.
 */
export function serialPass(
  problem: Problem,
  m: number,
  order: readonly number[],
  usage: Int32Array,
  starts: Int32Array,
  backward = false,
): number {
  const { cost } = problem;
  const before = backward ? problem.succs : problem.preds;
  usage.fill(0);
  starts.fill(-1);
  let makespan = 0;
  for (const j of order) {
    let t = 0;
    for (const p of before[j]!) {
      const s = starts[p]!;
      if (s < 0) throw new Error('the list is not precedence-feasible');
      if (s + cost[p]! > t) t = s + cost[p]!;
    }
    const c = cost[j]!;
    for (let u = t; u < t + c; u++) {
      if (usage[u]! >= m) t = u + 1; // full at u: start after it (the loop runs on to t + c)
    }
    for (let u = t; u < t + c; u++) usage[u]!++;
    starts[j] = t;
    if (t + c > makespan) makespan = t + c;
  }
  return makespan;
}

/** The serial schedule of a precedence-feasible list: start times, makespan. */
export function serialSchedule(
  problem: Problem,
  m: number,
  order: readonly number[],
): { starts: number[]; makespan: number } {
  const starts = new Int32Array(problem.n);
  const makespan = serialPass(problem, m, order, new Int32Array(problem.totalWork + 1), starts);
  return { starts: Array.from(starts), makespan };
}

/**
 * Double justification (Valls, Ballestín & Quintanilla 2005): the serial schedule of the list,
 * then every task as late as it can go (by decreasing finish time, from the end), then every task
 * as early as it can go (by increasing start time). Never worse than the list's serial schedule.
 * Returns the final list (tasks by start time), its start times and makespan.
 */
export function justify(
  problem: Problem,
  m: number,
  order: readonly number[],
  usage: Int32Array,
): { order: number[]; starts: number[]; makespan: number } {
  const n = problem.n;
  const starts = new Int32Array(n);
  const { cost } = problem;
  serialPass(problem, m, order, usage, starts);
  const byFinish = [...order].sort((a, b) => starts[b]! + cost[b]! - (starts[a]! + cost[a]!) || a - b);
  const fromEnd = new Int32Array(n);
  serialPass(problem, m, byFinish, usage, fromEnd, true);
  // Later finish from the end is an earlier start.
  const byStart = [...order].sort((a, b) => fromEnd[b]! + cost[b]! - (fromEnd[a]! + cost[a]!) || a - b);
  const makespan = serialPass(problem, m, byStart, usage, starts);
  return { order: byStart, starts: Array.from(starts), makespan };
}

/**
 * Iterated local search over the list: move one task to another place between its last
 * predecessor and first successor, justify, keep the move unless the makespan grows; after `patience`
 * moves without improvement, restart from the best list shaken by a few random moves. Stops at
 * `target` (a lower bound) or after `evaluations` justified schedules.
 */
export function improve(
  problem: Problem,
  m: number,
  target: number,
  evaluations: number,
  seed = 1,
): { starts: number[]; makespan: number } {
  const { n, preds, succs, topo, priority } = problem;
  const random = mulberry32(seed);
  const usage = new Int32Array(problem.totalWork + 1);
  // Start from the topological order that follows CP/MISF priority where it can.
  const rank = new Int32Array(n);
  priority.forEach((task, k) => {
    rank[task] = k;
  });
  const left = preds.map((p) => p.length);
  const ready = topo.filter((j) => left[j] === 0);
  const first: number[] = [];
  while (ready.length > 0) {
    ready.sort((a, b) => rank[a]! - rank[b]!);
    const j = ready.shift()!;
    first.push(j);
    for (const s of succs[j]!) if (--left[s]! === 0) ready.push(s);
  }
  let current = justify(problem, m, first, usage);
  let order = current.order;
  let best = current;
  const position = new Int32Array(n);
  const move = (list: number[]): number[] => {
    list.forEach((task, k) => {
      position[task] = k;
    });
    const i = Math.floor(random() * n);
    const j = list[i]!;
    let lo = 0;
    let hi = n - 1;
    for (const p of preds[j]!) lo = Math.max(lo, position[p]! + 1);
    for (const s of succs[j]!) hi = Math.min(hi, position[s]! - 1);
    const k = lo + Math.floor(random() * (hi - lo + 1));
    if (k === i) return list;
    const next = [...list];
    next.splice(i, 1);
    next.splice(k, 0, j);
    return next;
  };
  const patience = Math.max(200, 20 * n);
  let stale = 0;
  for (let e = 0; e < evaluations && best.makespan > target; e++) {
    const result = justify(problem, m, move(order), usage);
    if (result.makespan <= current.makespan) {
      order = result.order;
      current = result;
    }
    if (current.makespan < best.makespan) {
      best = current;
      stale = 0;
    } else if (++stale >= patience) {
      order = best.order;
      for (let shake = 0; shake < 3 + Math.floor(random() * n * 0.1); shake++) order = move(order);
      current = justify(problem, m, order, usage);
      order = current.order;
      stale = 0;
    }
  }
  return { starts: best.starts, makespan: best.makespan };
}
