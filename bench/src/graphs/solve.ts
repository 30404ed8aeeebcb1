// Over 400 lines on purpose: one search, its bounds and the proof that it is complete belong
// together; splitting them would separate the pruning rules from the argument that they are safe.
/**
 * An exact branch and bound for P|prec|Cmax: m identical processors, precedence constraints, no
 * communication cost, no preemption, integer costs; minimise the time the last task ends.
 *
 * In the line of Kasahara & Narita's DF/IHS (H. Kasahara, S. Narita, "Practical multiprocessor
 * scheduling algorithms for efficient parallel processing", IEEE Trans. Computers C-33(11), 1984):
 * the first schedule is CP/MISF's (critical path, then most immediate successors first), the search
 * is depth first in that priority order. Before it, an iterated local search over task lists
 * (./upper.ts) looks for a schedule that meets the root lower bound, which proves it optimal. Then
 * the search runs bottom up: is there a schedule of makespan T, for T = the lower bound, + 1, ...?
 * Each search that ends without one raises the lower bound; one that finds one ends with the
 * optimum. Branching, bounds and dominance rules are the ones of the resource-constrained project
 * scheduling literature (Demeulemeester & Herroelen 1992; Sprecher, Kolisch & Drexl 1995), and
 * bench/graphs/README.md says why the search is complete. In short:
 *
 * - A node is a decision time t (0 or the time some task ends). The search picks which of the
 *   ready tasks start at t (any subset that fits, including none: idle time can be inserted), then
 *   moves to the next time a running task ends.
 * - Left-shift rule: a task never starts at s if it could start earlier with everything else left
 *   where it is (a processor free over [t', min(s, t' + cost)) for some t' >= its release). The
 *   optimal schedule with the least weighted sum of start times passes this rule everywhere, so
 *   pruning the others loses no optimum.
 * - Transposition table: two partial schedules that reach the same state (same tasks started, the
 *   same running tasks with the same time left) at times t1 and t2, or at the same time with
 *   weighted start sums W1 and W2, keep only the smaller (t, W); ties keep both.
 * - Lower bounds: the critical path from each task's earliest start; the work that must run after
 *   each time tau (heads); the work that must run before T - q (tails, the Fernandez & Bussell /
 *   "load" bound); at the root also energetic reasoning over intervals [a, b] (Baptiste, Le Pape &
 *   Nuijten); for m = 2 the preemptive optimum (Muntz & Coffman's level algorithm).
 */
import type { TaskGraph } from './generate.js';
import { compile, listSchedule, type Problem } from './problem.js';
import { improve } from './upper.js';

export { assignProcessors, checkSchedule, compile, listSchedule, type Problem } from './problem.js';

export interface SolveOptions {
  /** Search nodes (decision points and subsets closed) before giving up. Default 2,000,000. */
  nodeLimit?: number;
  /** Transposition-table entries kept; the table is emptied when full (only pruning is lost); 0: no table. Default 400,000. */
  tableLimit?: number;
  /**
   * The search alone, for tests of its completeness: no heuristics, no root shortcut, no first
   * schedule (it must find one), no stop at the lower bound; it runs to the end of its tree.
   */
  exhaustive?: boolean;
  /** With `exhaustive`: false leaves out the lower bounds inside the search too. Default true. */
  bounds?: boolean;
  /** Serial schedules the local search may evaluate for a first upper bound. Default 20,000. */
  localSearch?: number;
}

export interface RootBounds {
  /** Longest chain of costs. */
  criticalPath: number;
  /** ceil(total work / m). */
  work: number;
  /** Head and tail load bounds at time 0. */
  load: number;
  /** Energetic reasoning over intervals. */
  energetic: number;
  /** m = 2 only: the preemptive optimum (Muntz & Coffman), null otherwise. */
  preemptive: number | null;
  /** The best of them. */
  best: number;
}

export interface SolveResult {
  /** Best makespan found (the optimum when `proved`). */
  makespan: number;
  /** A proved lower bound on the optimum (equal to `makespan` when `proved`). */
  lowerBound: number;
  proved: boolean;
  /** 'bounds': a heuristic schedule met the root lower bound; 'search': the search ended or met the bound. */
  provedBy: 'bounds' | 'search' | null;
  /** Start time of each task of `graph.tasks`, in order, for the best schedule found. */
  starts: number[];
  stats: {
    nodes: number;
    ms: number;
    /** CP/MISF list schedule's makespan: the first upper bound. */
    listMakespan: number;
    /** The local search's makespan (serial schedules over task lists), when it ran. */
    localSearchMakespan: number | null;
    root: RootBounds;
    /** Whether the search ran to its end (false: the node budget ran out). */
    complete: boolean;
  };
}

/**
 * max over x in xs of x + ceil((sum over plus of max(0, v - x) - sum over minus of max(0, v - x)) / m),
 * every array sorted ascending. Sweeps xs upward, dropping the values at or below x.
 */
function sweep(m: number, xs: Int32Array, plus: Int32Array, minus: Int32Array, offset: number): number {
  let plusSum = 0;
  for (const v of plus) plusSum += v;
  let minusSum = 0;
  for (const v of minus) minusSum += v;
  let p = 0;
  let q = 0;
  let best = 0;
  for (const x of xs) {
    while (p < plus.length && plus[p]! <= x) plusSum -= plus[p++]!;
    while (q < minus.length && minus[q]! <= x) minusSum -= minus[q++]!;
    const w = plusSum - (plus.length - p) * x - (minusSum - (minus.length - q) * x);
    const value = offset + x + Math.ceil(w / m);
    if (value > best) best = value;
  }
  return best;
}

/** Scratch arrays for {@link loadBound}, sized for n tasks. */
class LoadScratch {
  readonly a: Int32Array;
  readonly b: Int32Array;
  readonly c: Int32Array;
  constructor(n: number) {
    this.a = new Int32Array(n + 1);
    this.b = new Int32Array(n);
    this.c = new Int32Array(n);
  }
}

/**
 * Head and tail load bounds from time t.
 *
 * Heads: a task that cannot start before est_j still has min(c_j, max(0, est_j + c_j - tau)) of
 * its work after tau, so T >= tau + ceil(W(tau) / m) with W(tau) the sum of those (a running task:
 * max(0, f_j - tau)). W(tau) = sum max(0, ect_j - tau) - sum max(0, est_j - tau), and the maximum
 * over tau >= t is at t or at some est_j (where the slope drops).
 *
 * Tails: a task followed by a chain of tail_j = bottom_j - c_j must end by T - tail_j, so at least
 * min(c_j, max(0, bottom_j - q)) of it runs before T - q, after t: T >= t + q + ceil(V(q) / m)
 * (Fernandez & Bussell's bound, measured from t). V(q) = sum max(0, bottom_j - q) - sum
 * max(0, tail_j - q), maximum at q = 0 or at some tail_j.
 */
function loadBound(
  m: number,
  t: number,
  count: number,
  est: Int32Array,
  cost: Int32Array,
  bottom: Int32Array,
  tasks: readonly number[],
  runFinish: readonly number[],
  runTail: readonly number[],
  scratch: LoadScratch,
): number {
  const r = runFinish.length;
  const xs = scratch.a.subarray(0, count + 1);
  const plus = scratch.b.subarray(0, count + r);
  const minus = scratch.c.subarray(0, count);
  xs[0] = t;
  for (let k = 0; k < count; k++) {
    const j = tasks[k]!;
    xs[k + 1] = est[j]!;
    plus[k] = est[j]! + cost[j]!;
    minus[k] = est[j]!;
  }
  for (let k = 0; k < r; k++) plus[count + k] = runFinish[k]!;
  xs.sort();
  plus.sort();
  minus.sort();
  const heads = sweep(m, xs, plus, minus, 0);
  const qs = scratch.a.subarray(0, count + r + 1);
  const tailPlus = scratch.b.subarray(0, count + r);
  const tailMinus = scratch.c.subarray(0, count + r);
  qs[0] = 0;
  for (let k = 0; k < count; k++) {
    const j = tasks[k]!;
    qs[k + 1] = bottom[j]! - cost[j]!;
    tailPlus[k] = bottom[j]!;
    tailMinus[k] = bottom[j]! - cost[j]!;
  }
  for (let k = 0; k < r; k++) {
    qs[count + 1 + k] = runTail[k]!;
    tailPlus[count + k] = runFinish[k]! - t + runTail[k]!;
    tailMinus[count + k] = runTail[k]!;
  }
  qs.sort();
  tailPlus.sort();
  tailMinus.sort();
  return Math.max(heads, sweep(m, qs, tailPlus, tailMinus, t));
}

/**
 * Energetic reasoning at the root: the smallest T >= from such that no interval [a, b] must hold
 * more than m (b - a) of work, where task j must run in [top_j, T - (bottom_j - cost_j)].
 */
export function energeticBound(problem: Problem, m: number, from: number): number {
  const { n, cost, top, bottom } = problem;
  const overloaded = (T: number): boolean => {
    const est = top;
    const lst = (j: number) => T - bottom[j]!;
    const aSet = new Set<number>();
    const bSet = new Set<number>();
    for (let j = 0; j < n; j++) {
      const ect = est[j]! + cost[j]!;
      const lct = T - bottom[j]! + cost[j]!;
      aSet.add(est[j]!).add(ect).add(lst(j));
      bSet.add(lct).add(lst(j)).add(ect);
    }
    const as = [...aSet].sort((x, y) => x - y);
    const bs = [...bSet].sort((x, y) => x - y);
    for (const a of as) {
      for (const b of bs) {
        if (b <= a) continue;
        const capacity = m * (b - a);
        let need = 0;
        for (let j = 0; j < n; j++) {
          const x = Math.min(b - a, cost[j]!, est[j]! + cost[j]! - a, b - lst(j));
          if (x > 0) {
            need += x;
            if (need > capacity) return true;
          }
        }
      }
    }
    return false;
  };
  let T = from;
  while (overloaded(T)) T++;
  return T;
}

/**
 * The preemptive optimum on two processors, a lower bound on the non-preemptive one: Muntz &
 * Coffman's level algorithm ("Optimal preemptive scheduling on two-processor systems", IEEE Trans.
 * Computers C-18(11), 1969) is optimal for P2|prec,pmtn|Cmax. At every moment the ready tasks of
 * highest level (time left plus the longest chain after it) get the processors, and tasks of equal
 * level share what is left equally; time advances to the next end or the next moment a level
 * catches up with the one below. Floating point; the result is rounded up after taking off 1e-6,
 * so rounding can only weaken it. Only valid for m = 2 (the algorithm is not optimal for m >= 3).
 */
export function preemptiveBound(problem: Problem): number {
  const { n, cost, preds, succs, bottom } = problem;
  const m = 2;
  const eps = 1e-9;
  const left = preds.map((p) => p.length);
  const rem = Array.from(cost);
  const level = (j: number) => rem[j]! + bottom[j]! - cost[j]!;
  let ready: number[] = [];
  for (let j = 0; j < n; j++) if (left[j] === 0) ready.push(j);
  let t = 0;
  let done = 0;
  const rate = new Float64Array(n);
  while (done < n) {
    ready.sort((a, b) => level(b) - level(a));
    let free = m;
    const groups: Array<{ level: number; rate: number }> = [];
    for (let i = 0; i < ready.length; ) {
      const top = level(ready[i]!);
      let k = i;
      while (k < ready.length && top - level(ready[k]!) < eps) k++;
      const size = k - i;
      const share = free <= 0 ? 0 : size <= free ? 1 : free / size;
      free = Math.max(0, free - size);
      for (let q = i; q < k; q++) rate[ready[q]!] = share;
      groups.push({ level: top, rate: share });
      i = k;
    }
    let dt = Number.POSITIVE_INFINITY;
    for (const j of ready) if (rate[j]! > 0) dt = Math.min(dt, rem[j]! / rate[j]!);
    for (let g = 0; g + 1 < groups.length; g++) {
      const [upper, lower] = [groups[g]!, groups[g + 1]!];
      if (upper.rate > lower.rate) dt = Math.min(dt, (upper.level - lower.level) / (upper.rate - lower.rate));
    }
    t += dt;
    const next: number[] = [];
    for (const j of ready) {
      rem[j] = rem[j]! - rate[j]! * dt;
      if (rem[j]! < eps) {
        done++;
        for (const s of succs[j]!) if (--left[s]! === 0) next.push(s);
      } else next.push(j);
    }
    ready = next;
  }
  return Math.ceil(t - 1e-6);
}

export function rootBounds(problem: Problem, m: number): RootBounds {
  const { n, cost, bottom, top, totalWork, criticalPath } = problem;
  const all = Array.from({ length: n }, (_, i) => i);
  const work = Math.ceil(totalWork / m);
  const load = loadBound(m, 0, n, top, cost, bottom, all, [], [], new LoadScratch(n));
  const preemptive = m === 2 ? preemptiveBound(problem) : null;
  const soFar = Math.max(criticalPath, work, load, preemptive ?? 0);
  const energetic = energeticBound(problem, m, soFar);
  return { criticalPath, work, load, energetic, preemptive, best: Math.max(soFar, energetic) };
}

/** The tie-break sum of weighted start times stays below 2^WEIGHT_BITS, so (t, sum) packs into one number. */
const WEIGHT_BITS = 28;

class Search {
  readonly n: number;
  readonly cost: Int32Array;
  readonly start: Int32Array;
  readonly finish: Int32Array;
  readonly predLeft: Int32Array;
  readonly release: Int32Array;
  readonly est: Int32Array;
  readonly started: Uint16Array;
  readonly weight: Float64Array;
  running: number[] = [];
  unstarted: number;
  weighted = 0;
  best: number;
  bestStarts: Int32Array;
  nodes = 0;
  aborted = false;
  finished = false;
  /** Prune on lower bounds (off only to test the branching and dominance rules alone). */
  bounds = true;
  readonly table = new Map<string, number>();
  readonly scratch: number[] = [];
  readonly loads: LoadScratch;

  constructor(
    readonly problem: Problem,
    readonly m: number,
    readonly target: number,
    readonly nodeLimit: number,
    readonly tableLimit: number,
    upper: number[],
    upperMakespan: number,
  ) {
    const n = problem.n;
    this.n = n;
    this.cost = problem.cost;
    this.start = new Int32Array(n).fill(-1);
    this.finish = new Int32Array(n);
    this.predLeft = new Int32Array(problem.preds.map((p) => p.length));
    this.release = new Int32Array(n);
    this.est = new Int32Array(n);
    this.loads = new LoadScratch(n);
    this.started = new Uint16Array(Math.ceil(n / 16));
    this.unstarted = n;
    this.best = upperMakespan;
    this.bestStarts = Int32Array.from(upper);
    // Positive integer weights for the tie-break sum; sum(weight * start) < 2^28.
    const wmax = Math.max(1, Math.floor(2 ** WEIGHT_BITS / (n * (problem.totalWork + 1))));
    let seed = 0x9e3779b9;
    this.weight = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
      this.weight[i] = 1 + (seed % wmax);
    }
  }

  /** The state at decision time t: the tasks started (a bit each), then each running task and its time left. */
  key(t: number): string {
    const codes = Array.from(this.started);
    const run = [...this.running].sort((a, b) => a - b);
    for (const j of run) codes.push(j, this.finish[j]! - t);
    return String.fromCharCode(...codes);
  }

  /** Earliest starts of the unstarted tasks from time t and the lower bound they give. */
  bound(t: number, runStart: number): number {
    const { problem, est, start, finish, cost } = this;
    const { topo, preds, bottom } = problem;
    let lb = 0;
    const runFinish: number[] = [];
    const runTail: number[] = [];
    for (const r of this.running) {
      runFinish.push(finish[r]!);
      runTail.push(bottom[r]! - cost[r]!);
      lb = Math.max(lb, finish[r]!);
    }
    const tasks = this.scratch;
    let count = 0;
    for (const j of topo) {
      if (start[j]! >= 0) continue;
      // A ready task the left-shift rule keeps from starting now starts at t + 1 at the earliest.
      let e = runStart >= 0 && this.predLeft[j] === 0 && this.release[j]! < t ? t + 1 : t;
      for (const p of preds[j]!) {
        const f = start[p]! >= 0 ? finish[p]! : est[p]! + cost[p]!;
        if (f > e) e = f;
      }
      est[j] = e;
      if (e + bottom[j]! > lb) lb = e + bottom[j]!;
      tasks[count++] = j;
    }
    if (lb >= this.best) return lb;
    return Math.max(
      lb,
      loadBound(this.m, t, count, est, cost, bottom, tasks, runFinish, runTail, this.loads),
    );
  }

  run(): void {
    this.atTime(0, -1);
  }

  /** A decision time: the tasks started so far all started before t. */
  atTime(t: number, runStart: number): void {
    if (this.aborted || this.finished) return;
    if (++this.nodes > this.nodeLimit) {
      this.aborted = true;
      return;
    }
    const key = this.tableLimit > 0 ? this.key(t) : '';
    const value = t * 2 ** WEIGHT_BITS + this.weighted;
    if (this.tableLimit > 0) {
      const seen = this.table.get(key);
      if (seen !== undefined && seen < value) return;
      if (seen === undefined || value < seen) {
        if (this.table.size >= this.tableLimit) this.table.clear();
        this.table.set(key, value);
      }
    }
    if (this.bounds && this.bound(t, runStart) >= this.best) return;
    const candidates: number[] = [];
    for (const j of this.problem.priority) {
      if (this.start[j]! >= 0 || this.predLeft[j] !== 0) continue;
      // Left-shift rule: a processor was free just before t and j was ready then.
      if (runStart >= 0 && this.release[j]! < t) continue;
      candidates.push(j);
    }
    this.choose(candidates, 0, t, runStart);
  }

  /** Enumerates the subsets of candidates[k..] to start at t (in priority order), then closes t. */
  choose(candidates: readonly number[], k: number, t: number, runStart: number): void {
    for (let i = k; i < candidates.length && this.running.length < this.m; i++) {
      const j = candidates[i]!;
      this.begin(j, t);
      this.choose(candidates, i + 1, t, runStart);
      this.unbegin(j, t);
      if (this.aborted || this.finished) return;
    }
    this.close(t, runStart);
  }

  begin(j: number, t: number): void {
    this.start[j] = t;
    this.finish[j] = t + this.cost[j]!;
    this.running.push(j);
    this.unstarted--;
    this.weighted += this.weight[j]! * t;
    this.started[j >> 4]! |= 1 << (j & 15);
  }

  unbegin(j: number, t: number): void {
    this.start[j] = -1;
    this.running.pop();
    this.unstarted++;
    this.weighted -= this.weight[j]! * t;
    this.started[j >> 4]! &= ~(1 << (j & 15));
  }

  /** No more starts at t: move to the next time a running task ends. */
  close(t: number, runStart: number): void {
    if (this.aborted || this.finished) return;
    if (++this.nodes > this.nodeLimit) {
      this.aborted = true;
      return;
    }
    const before = this.running;
    if (before.length === 0) return; // nothing runs and nothing started: no next decision time
    let next = Number.POSITIVE_INFINITY;
    let last = 0;
    for (const r of before) {
      next = Math.min(next, this.finish[r]!);
      last = Math.max(last, this.finish[r]!);
    }
    if (this.unstarted === 0) {
      if (last < this.best) {
        this.best = last;
        this.bestStarts = this.start.slice();
        if (last <= this.target) this.finished = true;
      }
      return;
    }
    if (this.bounds && next >= this.best) return;
    // A processor stays free over [t, next): the free run grows; a ready task that fits in it
    // could have started there, so no schedule from here passes the left-shift rule.
    let run = -1;
    if (before.length < this.m) {
      run = runStart >= 0 ? runStart : t;
      for (let j = 0; j < this.n; j++) {
        if (this.start[j]! >= 0 || this.predLeft[j] !== 0) continue;
        if (next - Math.max(run, this.release[j]!) >= this.cost[j]!) return;
      }
    }
    const after: number[] = [];
    const done: number[] = [];
    for (const r of before) (this.finish[r] === next ? done : after).push(r);
    const saved: number[] = [];
    for (const r of done) {
      for (const s of this.problem.succs[r]!) {
        this.predLeft[s]!--;
        saved.push(this.release[s]!);
        this.release[s] = next;
      }
    }
    this.running = after;
    this.atTime(next, run);
    this.running = before;
    for (let d = done.length - 1; d >= 0; d--) {
      const succs = this.problem.succs[done[d]!]!;
      for (let k = succs.length - 1; k >= 0; k--) {
        const s = succs[k]!;
        this.predLeft[s]!++;
        this.release[s] = saved.pop()!;
      }
    }
  }
}

/** Solves P|prec|Cmax for `graph` on `m` processors within the node budget. */
export function solve(graph: TaskGraph, m: number, options: SolveOptions = {}): SolveResult {
  const begun = performance.now();
  const problem = compile(graph);
  // The table packs (t, weighted start sum) into one exact double: t < total work < 2^24.
  if (problem.n > 4096 || problem.totalWork >= 2 ** 24) throw new Error('graph too large for the solver');
  const root = rootBounds(problem, m);
  const list = listSchedule(problem, m);
  let listMakespan = 0;
  for (let i = 0; i < problem.n; i++) listMakespan = Math.max(listMakespan, list[i]! + problem.cost[i]!);
  const exhaustive = options.exhaustive ?? false;
  let upper = { starts: list, makespan: listMakespan };
  let localSearchMakespan: number | null = null;
  if (listMakespan > root.best && !exhaustive) {
    const found = improve(problem, m, root.best, options.localSearch ?? 20_000);
    localSearchMakespan = found.makespan;
    if (found.makespan < upper.makespan) upper = found;
  }
  const stats = (nodes: number, complete: boolean) => ({
    nodes,
    ms: Math.round(performance.now() - begun),
    listMakespan,
    localSearchMakespan,
    root,
    complete,
  });
  if (upper.makespan <= root.best && !exhaustive) {
    return {
      makespan: upper.makespan,
      lowerBound: upper.makespan,
      proved: true,
      provedBy: 'bounds',
      starts: upper.starts,
      stats: stats(0, true),
    };
  }
  const nodeLimit = options.nodeLimit ?? 2_000_000;
  const tableLimit = options.tableLimit ?? 400_000;
  if (exhaustive) {
    // Depth first with no schedule in hand, to the end of the tree.
    const search = new Search(problem, m, 0, nodeLimit, tableLimit, list, problem.totalWork + 1);
    search.bounds = options.bounds ?? true;
    search.run();
    if (!search.aborted && search.best > problem.totalWork)
      throw new Error('the search ended with no schedule');
    return {
      makespan: search.best,
      lowerBound: search.aborted ? root.best : search.best,
      proved: !search.aborted,
      provedBy: search.aborted ? null : 'search',
      starts: Array.from(search.bestStarts),
      stats: stats(search.nodes, !search.aborted),
    };
  }
  // Bottom up: is there a schedule of makespan T, for T = lower bound, lower bound + 1, ...? A
  // search that ends without one proves T + 1 a lower bound; one that finds one proves it optimal.
  let lowerBound = root.best;
  let nodes = 0;
  while (lowerBound < upper.makespan) {
    const search = new Search(
      problem,
      m,
      lowerBound,
      nodeLimit - nodes,
      tableLimit,
      upper.starts,
      lowerBound + 1,
    );
    search.run();
    nodes += search.nodes;
    if (search.best <= lowerBound) {
      upper = { starts: Array.from(search.bestStarts), makespan: search.best };
      break;
    }
    if (search.aborted) break;
    lowerBound++;
  }
  const proved = upper.makespan <= lowerBound;
  return {
    makespan: upper.makespan,
    lowerBound: proved ? upper.makespan : lowerBound,
    proved,
    provedBy: proved ? 'search' : null,
    starts: upper.starts,
    stats: stats(nodes, proved),
  };
}
