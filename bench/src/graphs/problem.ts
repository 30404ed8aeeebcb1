/** Task graphs as arrays, the CP/MISF list schedule, and a schedule checker (P|prec|Cmax). */
import type { TaskGraph } from './generate.js';

/** The graph as arrays over task indices (the order of `graph.tasks`). */
export interface Problem {
  n: number;
  cost: Int32Array;
  preds: number[][];
  succs: number[][];
  /** A topological order. */
  topo: number[];
  /** Cost plus the longest chain of successors after it (bottom level). */
  bottom: Int32Array;
  /** Longest chain of predecessors before it (top level: earliest start). */
  top: Int32Array;
  totalWork: number;
  criticalPath: number;
  /** CP/MISF priority order: bottom level, then immediate successors, then index. */
  priority: number[];
}

export function compile(graph: TaskGraph): Problem {
  const n = graph.tasks.length;
  const index = new Map(graph.tasks.map((task, i) => [task.id, i]));
  if (index.size !== n) throw new Error('task ids are not unique');
  const cost = new Int32Array(n);
  const preds: number[][] = [];
  const succs: number[][] = Array.from({ length: n }, () => []);
  graph.tasks.forEach((task, i) => {
    if (!Number.isInteger(task.cost) || task.cost < 1)
      throw new Error(`${task.id}: cost must be a positive integer`);
    cost[i] = task.cost;
    const own = [...new Set(task.deps)].map((dep) => {
      const j = index.get(dep);
      if (j === undefined) throw new Error(`${task.id} depends on unknown task ${dep}`);
      return j;
    });
    preds.push(own);
    for (const j of own) succs[j]!.push(i);
  });
  const left = preds.map((p) => p.length);
  const topo: number[] = [];
  for (let i = 0; i < n; i++) if (left[i] === 0) topo.push(i);
  for (let k = 0; k < topo.length; k++) {
    for (const s of succs[topo[k]!]!) if (--left[s]! === 0) topo.push(s);
  }
  if (topo.length !== n) throw new Error('the graph has a cycle');
  const top = new Int32Array(n);
  for (const i of topo) for (const p of preds[i]!) top[i] = Math.max(top[i]!, top[p]! + cost[p]!);
  const bottom = new Int32Array(n);
  for (let k = n - 1; k >= 0; k--) {
    const i = topo[k]!;
    let after = 0;
    for (const s of succs[i]!) after = Math.max(after, bottom[s]!);
    bottom[i] = cost[i]! + after;
  }
  let totalWork = 0;
  let criticalPath = 0;
  for (let i = 0; i < n; i++) {
    totalWork += cost[i]!;
    criticalPath = Math.max(criticalPath, bottom[i]!);
  }
  const priority = Array.from({ length: n }, (_, i) => i).sort(
    (a, b) => bottom[b]! - bottom[a]! || succs[b]!.length - succs[a]!.length || a - b,
  );
  return { n, cost, preds, succs, topo, bottom, top, totalWork, criticalPath, priority };
}

/**
 * A non-delay list schedule: whenever a processor is free, start the ready task that comes first in
 * `order` (CP/MISF by default). Returns the start times.
 */
export function listSchedule(
  problem: Problem,
  m: number,
  order: readonly number[] = problem.priority,
): number[] {
  const { n, cost, preds, succs } = problem;
  const rank = new Int32Array(n);
  order.forEach((task, k) => {
    rank[task] = k;
  });
  const left = preds.map((p) => p.length);
  const starts = new Array<number>(n).fill(-1);
  const ready = Array.from({ length: n }, (_, i) => i).filter((i) => left[i] === 0);
  let running: number[] = [];
  let t = 0;
  let done = 0;
  while (done < n) {
    ready.sort((a, b) => rank[a]! - rank[b]!);
    while (running.length < m && ready.length > 0) {
      const task = ready.shift()!;
      starts[task] = t;
      running.push(task);
    }
    t = Math.min(...running.map((r) => starts[r]! + cost[r]!));
    const finished = running.filter((r) => starts[r]! + cost[r]! === t);
    running = running.filter((r) => starts[r]! + cost[r]! !== t);
    for (const r of finished) {
      done++;
      for (const s of succs[r]!) if (--left[s]! === 0) ready.push(s);
    }
  }
  return starts;
}

/**
 * Checks a schedule (start times in task order) against the precedences and m processors and
 * returns its makespan; throws on a violation.
 */
export function checkSchedule(graph: TaskGraph, m: number, starts: readonly number[]): number {
  const problem = compile(graph);
  const { n, cost, preds } = problem;
  if (starts.length !== n) throw new Error(`${starts.length} start times for ${n} tasks`);
  const events: Array<[number, number]> = [];
  let makespan = 0;
  for (let i = 0; i < n; i++) {
    const s = starts[i]!;
    if (!Number.isInteger(s) || s < 0) throw new Error(`${graph.tasks[i]!.id}: start ${s}`);
    for (const p of preds[i]!) {
      if (starts[p]! + cost[p]! > s)
        throw new Error(`${graph.tasks[i]!.id} starts at ${s} before ${graph.tasks[p]!.id} ends`);
    }
    events.push([s, 1], [s + cost[i]!, -1]);
    makespan = Math.max(makespan, s + cost[i]!);
  }
  // Ends before starts at the same time; an interval graph with at most m overlapping is m-colourable.
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let busy = 0;
  for (const [time, delta] of events) {
    busy += delta;
    if (busy > m) throw new Error(`${busy} tasks run at time ${time} on ${m} processors`);
  }
  return makespan;
}

/** Processor of each task for a feasible schedule (tasks in start order onto the processor free longest). */
export function assignProcessors(graph: TaskGraph, m: number, starts: readonly number[]): number[] {
  const { cost } = compile(graph);
  const free = new Array<number>(m).fill(0);
  const processor = new Array<number>(starts.length).fill(-1);
  const order = starts.map((_, i) => i).sort((a, b) => starts[a]! - starts[b]! || a - b);
  for (const i of order) {
    let best = -1;
    for (let k = 0; k < m; k++) if (free[k]! <= starts[i]! && (best < 0 || free[k]! < free[best]!)) best = k;
    if (best < 0) throw new Error(`no processor free for task ${i} at ${starts[i]}`);
    processor[i] = best;
    free[best] = starts[i]! + cost[i]!;
  }
  return processor;
}
