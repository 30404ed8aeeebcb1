import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyse, loadGraph } from '@troupe/example-build-graph/graph';
import { describe, expect, it } from 'vitest';
import {
  type Family,
  generateInstance,
  generateLayered,
  generateRandom,
  mulberry32,
  randInt,
  type TaskGraph,
} from '../dist/graphs/generate.js';
import {
  assignProcessors,
  checkSchedule,
  compile,
  listSchedule,
  preemptiveBound,
  rootBounds,
  solve,
} from '../dist/graphs/solve.js';

const graph = (tasks: Array<[id: string, cost: number, deps?: string[]]>): TaskGraph => ({
  tasks: tasks.map(([id, cost, deps = []]) => ({ id, cost, deps })),
});

/**
 * The optimum by brute force, independent of the solver's theory: every order of the tasks that
 * respects the precedences, times every assignment of tasks to processors (processors numbered in
 * order of first use, so no two assignments are relabellings of each other); each task starts as
 * soon as its predecessors have ended and its processor has finished the tasks before it in the
 * order. Any schedule is matched or beaten by one of these (sort its tasks by start time and keep
 * its processors), so the least makespan among them is the optimum. Orders and assignments are
 * built together, task by task, and a prefix whose makespan already reaches the best is dropped
 * (a makespan only grows as tasks are added).
 */
function bruteForce(g: TaskGraph, m: number): number {
  const { n, cost, preds } = compile(g);
  const finish = new Array<number>(n).fill(-1);
  const free = new Array<number>(m).fill(0);
  let best = Number.POSITIVE_INFINITY;
  const extend = (placed: number, used: number, makespan: number): void => {
    if (makespan >= best) return;
    if (placed === n) {
      best = makespan;
      return;
    }
    for (let task = 0; task < n; task++) {
      if (finish[task]! >= 0 || preds[task]!.some((p) => finish[p]! < 0)) continue;
      let ready = 0;
      for (const p of preds[task]!) ready = Math.max(ready, finish[p]!);
      for (let processor = 0; processor < Math.min(m, used + 1); processor++) {
        const previous = free[processor]!;
        finish[task] = Math.max(ready, previous) + cost[task]!;
        free[processor] = finish[task]!;
        extend(placed + 1, Math.max(used, processor + 1), Math.max(makespan, finish[task]!));
        free[processor] = previous;
      }
      finish[task] = -1;
    }
  };
  extend(0, 0, 0);
  return best;
}

function tinyGraph(seed: number): { g: TaskGraph; m: number } {
  const random = mulberry32(seed);
  const n = randInt(random, 6, 7);
  const m = randInt(random, 2, 3);
  const params = { p: [0.15, 0.3, 0.5][randInt(random, 0, 2)]!, costMin: 1, costMax: 9 };
  const g =
    random() < 0.5
      ? generateRandom(random, n, params)
      : generateLayered(random, n, { ...params, layers: randInt(random, 1, Math.min(n, 3)) });
  return { g, m };
}

describe('graph generator', () => {
  it('is deterministic per seed and writes the build-graph format, which loadGraph reads back', () => {
    const dir = mkdtempSync(join(tmpdir(), 'graphs-'));
    try {
      for (const family of ['layered', 'random'] as Family[]) {
        for (const [n, m] of [
          [20, 2],
          [50, 8],
          [100, 16],
        ] as const) {
          const a = generateInstance(family, n, m, 1234 + n);
          const b = generateInstance(family, n, m, 1234 + n);
          expect(b).toEqual(a);
          expect(generateInstance(family, n, m, 4321 + n)).not.toEqual(a);
          expect(a.graph.tasks).toHaveLength(n);
          expect(a.graph.tasks.map((t) => t.id)).toEqual(a.graph.tasks.map((_, i) => `t${i}`));
          for (const task of a.graph.tasks) {
            expect(Object.keys(task)).toEqual(['id', 'cost', 'deps']);
            expect(Number.isInteger(task.cost) && task.cost >= 1 && task.cost <= 20).toBe(true);
          }
          const file = join(dir, `${family}-${n}.json`);
          writeFileSync(file, JSON.stringify(a.graph));
          const loaded = loadGraph(file);
          expect(loaded).toEqual(a.graph.tasks);
          const analysed = analyse(loaded); // throws on unknown deps or a cycle
          expect(analysed.criticalPath).toBe(compile(a.graph).criticalPath);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('layered graphs put every task of layer l > 0 after one of layer l - 1 (depth = layer)', () => {
    const random = mulberry32(7);
    const g = generateLayered(random, 60, { p: 0.05, layers: 12, costMin: 1, costMax: 1 });
    // With unit costs the critical path counts layers.
    expect(compile(g).criticalPath).toBe(12);
  });
});

describe('P|prec|Cmax solver', () => {
  it('matches brute force on 200 tiny random graphs (6 or 7 tasks, 2 or 3 processors)', () => {
    let searched = 0;
    for (let seed = 1; seed <= 200; seed++) {
      const { g, m } = tinyGraph(seed);
      const optimum = bruteForce(g, m);
      const result = solve(g, m);
      expect(result.proved, `seed ${seed}`).toBe(true);
      expect(result.makespan, `seed ${seed}`).toBe(optimum);
      expect(checkSchedule(g, m, result.starts)).toBe(result.makespan);
      // Its processors: each task on one of m, never two at once on one.
      const processor = assignProcessors(g, m, result.starts);
      for (let a = 0; a < g.tasks.length; a++) {
        expect(processor[a]).toBeGreaterThanOrEqual(0);
        expect(processor[a]).toBeLessThan(m);
        for (let b = a + 1; b < g.tasks.length; b++) {
          if (processor[a] !== processor[b]) continue;
          const [sa, sb] = [result.starts[a]!, result.starts[b]!];
          expect(sa + g.tasks[a]!.cost <= sb || sb + g.tasks[b]!.cost <= sa, `seed ${seed}`).toBe(true);
        }
      }
      // The search alone, from no schedule in hand, to the end of its tree: with its lower bounds,
      // and without them (the branching, left-shift rule and transposition table alone).
      for (const bounds of [true, false]) {
        const searchOnly = solve(g, m, { exhaustive: true, bounds });
        expect(searchOnly, `seed ${seed}`).toMatchObject({
          makespan: optimum,
          proved: true,
          provedBy: 'search',
        });
        expect(checkSchedule(g, m, searchOnly.starts)).toBe(optimum);
      }
      if (result.stats.listMakespan > optimum) searched++;
      // Every root bound is a lower bound.
      const root = rootBounds(compile(g), m);
      expect(root.best, `seed ${seed}`).toBeLessThanOrEqual(optimum);
      if (m === 2) expect(root.preemptive, `seed ${seed}`).toBeLessThanOrEqual(optimum);
    }
    // Enough of them are ones the first (list) schedule gets wrong.
    expect(searched).toBeGreaterThanOrEqual(15);
  });

  it('finds the same optima with and without its transposition table, and with its heuristics, on 60 graphs of 9 to 12 tasks', () => {
    for (let seed = 1; seed <= 60; seed++) {
      const random = mulberry32(1000 + seed);
      const n = randInt(random, 9, 12);
      const m = randInt(random, 2, 4);
      const params = { p: [0.1, 0.2, 0.3][randInt(random, 0, 2)]!, costMin: 1, costMax: 9 };
      const g =
        random() < 0.5
          ? generateRandom(random, n, params)
          : generateLayered(random, n, { ...params, layers: randInt(random, 2, 4) });
      const withTable = solve(g, m, { exhaustive: true });
      const without = solve(g, m, { exhaustive: true, tableLimit: 0 });
      const full = solve(g, m);
      expect(withTable.proved && without.proved && full.proved, `seed ${seed}`).toBe(true);
      expect(withTable.makespan, `seed ${seed}`).toBe(without.makespan);
      expect(full.makespan, `seed ${seed}`).toBe(without.makespan);
    }
  });

  it('loses no optimum to its transposition table (no lower bounds, to the end of the tree)', () => {
    // A table keyed on time alone (no weighted start sum to break ties), or one that prunes a state
    // reached earlier than a stored one, gives a worse makespan on seeds 107, 138 and 294.
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 107, 138, 294]) {
      const random = mulberry32(5000 + seed);
      const n = randInt(random, 8, 10);
      const m = randInt(random, 2, 3);
      const params = { p: [0.1, 0.2, 0.3][randInt(random, 0, 2)]!, costMin: 1, costMax: 9 };
      const g =
        random() < 0.5
          ? generateRandom(random, n, params)
          : generateLayered(random, n, { ...params, layers: randInt(random, 2, 4) });
      const withTable = solve(g, m, { exhaustive: true, bounds: false });
      const without = solve(g, m, { exhaustive: true, bounds: false, tableLimit: 0 });
      expect(withTable.proved && without.proved, `seed ${seed}`).toBe(true);
      expect(withTable.makespan, `seed ${seed}`).toBe(without.makespan);
    }
  });

  it('needs inserted idle time where every non-delay schedule is worse', () => {
    // b (1) is followed by c and d (3 each), both needed by e (3); x (2) is independent. A non-delay
    // schedule starts x beside b at time 0, so d waits for x: 1 + ... = 8. Leaving a processor idle
    // during [0, 1) lets c and d start together at 1 and x runs beside e: 7.
    const g = graph([
      ['b', 1],
      ['c', 3, ['b']],
      ['d', 3, ['b']],
      ['e', 3, ['c', 'd']],
      ['x', 2],
    ]);
    const problem = compile(g);
    const list = listSchedule(problem, 2);
    expect(checkSchedule(g, 2, list)).toBe(8);
    expect(bruteForce(g, 2)).toBe(7);
    const x = g.tasks.findIndex((t) => t.id === 'x');
    for (const options of [{}, { exhaustive: true }, { exhaustive: true, bounds: false }]) {
      const result = solve(g, 2, options);
      expect(result).toMatchObject({ makespan: 7, proved: true });
      expect(checkSchedule(g, 2, result.starts)).toBe(7);
      // The optimum leaves x waiting while a processor is free at time 0.
      expect(result.starts[x]).toBeGreaterThan(0);
    }
  });

  it('finds known optima', () => {
    // Independent tasks: {3,3} and {2,2,2} on two processors is 6 (LPT and CP/MISF give 7).
    expect(
      solve(
        graph([
          ['a', 3],
          ['b', 3],
          ['c', 2],
          ['d', 2],
          ['e', 2],
        ]),
        2,
      ),
    ).toMatchObject({ makespan: 6, proved: true });
    // A chain is its sum whatever m is.
    expect(
      solve(
        graph([
          ['a', 4],
          ['b', 5, ['a']],
          ['c', 6, ['b']],
        ]),
        8,
      ),
    ).toMatchObject({ makespan: 15, proved: true });
    // Graham's anomaly graph (1969): T1 < T9, T4 < T5..T8; 3 processors; 12 (work 34 / 3 rounds up).
    const graham = graph([
      ['T1', 3],
      ['T2', 2],
      ['T3', 2],
      ['T4', 2],
      ['T5', 4, ['T4']],
      ['T6', 4, ['T4']],
      ['T7', 4, ['T4']],
      ['T8', 4, ['T4']],
      ['T9', 9, ['T1']],
    ]);
    expect(solve(graham, 3)).toMatchObject({ makespan: 12, proved: true });
    // Four tasks of 2 on 3 processors: the work bound says 3, but two of them share a processor: 4.
    const four = graph([
      ['a', 2],
      ['b', 2],
      ['c', 2],
      ['d', 2],
    ]);
    expect(solve(four, 3)).toMatchObject({ makespan: 4, proved: true });
    expect(bruteForce(four, 3)).toBe(4);
  });

  it('bounds two processors by the preemptive optimum (McNaughton for independent tasks)', () => {
    const random = mulberry32(3);
    for (let k = 0; k < 50; k++) {
      const costs = Array.from({ length: randInt(random, 1, 12) }, () => randInt(random, 1, 20));
      const g = graph(costs.map((cost, i) => [`t${i}`, cost]));
      const work = costs.reduce((a, b) => a + b, 0);
      expect(preemptiveBound(compile(g))).toBe(Math.max(Math.max(...costs), Math.ceil(work / 2)));
    }
    // Three tasks of 2 share two processors in 3 preemptively; without preemption it takes 4.
    const three = graph([
      ['a', 2],
      ['b', 2],
      ['c', 2],
    ]);
    expect(preemptiveBound(compile(three))).toBe(3);
    expect(solve(three, 2).makespan).toBe(4);
  });

  it('reports an unproved instance with its bounds when the budget runs out', () => {
    // An instance the root bounds do not close (best schedule 24 against a root bound of 23), so
    // only the search could prove it, and one search node is not enough.
    const { graph: g } = generateInstance('random', 12, 4, 3);
    const result = solve(g, 4, { nodeLimit: 1 });
    expect(result.stats.root.best).toBeLessThan(result.makespan);
    expect(result.proved).toBe(false);
    expect(result.provedBy).toBeNull();
    expect(result.stats.complete).toBe(false);
    expect(result.lowerBound).toBeLessThan(result.makespan);
    expect(checkSchedule(g, 4, result.starts)).toBe(result.makespan);
  });
});
