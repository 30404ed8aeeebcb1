/**
 * Makes bench/graphs/set.json: random task graphs of both families for every (n, m), each solved
 * for P|prec|Cmax on m identical processors by the exact solver (./solve.ts), with the optimum
 * when it is proved and the bounds when it is not. See bench/graphs/README.md.
 *
 *   npm run build && node bench/dist/graphs/make-set.js [--out file] [--node-limit N]
 *
 * Everything but the `ms` fields is deterministic: seeds are fixed below, the generator and the
 * solver draw from their own seeded streams, and the node budget (not a time budget) ends a search.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { analyse } from '@troupe/example-build-graph/graph';
import { type Family, type GraphParams, generateInstance, type TaskGraph } from './generate.js';
import { checkSchedule, compile, type RootBounds, solve } from './solve.js';

export const families: Family[] = ['layered', 'random'];
export const sizes = [20, 50, 100];
export const machines = [2, 4, 8, 16];
/** Graphs per (family, n, m): more of the small ones. */
export const perCell: Record<number, number> = { 20: 12, 50: 8, 100: 5 };
export const solverOptions = { nodeLimit: 300_000, localSearch: 20_000, tableLimit: 400_000 };

/** The seed of the k-th graph of a cell: family 1 (layered) or 2 (random), then n, m and k in decimal. */
export function seedOf(family: Family, n: number, m: number, k: number): number {
  return (family === 'layered' ? 1 : 2) * 10_000_000 + n * 10_000 + m * 100 + k;
}

export interface Instance {
  name: string;
  family: Family;
  n: number;
  m: number;
  seed: number;
  params: GraphParams;
  criticalPath: number;
  totalWork: number;
  edges: number;
  /** The optimal makespan, when proved; null otherwise. */
  optimum: number | null;
  proved: boolean;
  /** Best makespan found (= optimum when proved). */
  best: number;
  /** Proved lower bound (= optimum when proved). */
  lowerBound: number;
  /** The CP/MISF list schedule's makespan (a simple scheduler's figure, for reference). */
  listMakespan: number;
  /** Start time of each task (in `graph.tasks` order) of a schedule with makespan `best`. */
  starts: number[];
  solver: {
    provedBy: 'bounds' | 'search' | null;
    nodes: number;
    complete: boolean;
    localSearchMakespan: number | null;
    root: RootBounds;
    ms: number;
  };
  graph: TaskGraph;
}

export function makeInstance(
  family: Family,
  n: number,
  m: number,
  k: number,
  options = solverOptions,
): Instance {
  const seed = seedOf(family, n, m, k);
  const { params, graph } = generateInstance(family, n, m, seed);
  // The build-graph example's own check: every dep known, no cycle.
  const analysed = analyse(graph.tasks);
  const problem = compile(graph);
  if (analysed.criticalPath !== problem.criticalPath)
    throw new Error(`${family} ${seed}: critical paths differ`);
  const result = solve(graph, m, options);
  if (checkSchedule(graph, m, result.starts) !== result.makespan)
    throw new Error(`${family} ${seed}: bad schedule`);
  if (result.lowerBound > result.makespan) throw new Error(`${family} ${seed}: bounds cross`);
  return {
    name: `${family}-n${n}-m${m}-${k}`,
    family,
    n,
    m,
    seed,
    params,
    criticalPath: problem.criticalPath,
    totalWork: problem.totalWork,
    edges: graph.tasks.reduce((sum, task) => sum + task.deps.length, 0),
    optimum: result.proved ? result.makespan : null,
    proved: result.proved,
    best: result.makespan,
    lowerBound: result.lowerBound,
    listMakespan: result.stats.listMakespan,
    starts: result.starts,
    solver: {
      provedBy: result.provedBy,
      nodes: result.stats.nodes,
      complete: result.stats.complete,
      localSearchMakespan: result.stats.localSearchMakespan,
      root: result.stats.root,
      ms: result.stats.ms,
    },
    graph,
  };
}

export interface CellSummary {
  family: Family;
  n: number;
  m: number;
  instances: number;
  proved: number;
  /** Proved instances whose CP/MISF list schedule is not optimal. */
  listNotOptimal: number;
  ms: number;
}

function main(): void {
  const { values } = parseArgs({
    options: {
      out: { type: 'string', default: fileURLToPath(new URL('../../graphs/set.json', import.meta.url)) },
      'node-limit': { type: 'string' },
    },
  });
  const options = { ...solverOptions };
  if (values['node-limit']) options.nodeLimit = Number(values['node-limit']);
  const begun = performance.now();
  const instances: Instance[] = [];
  const summary: CellSummary[] = [];
  for (const family of families) {
    for (const n of sizes) {
      for (const m of machines) {
        const cell: CellSummary = { family, n, m, instances: 0, proved: 0, listNotOptimal: 0, ms: 0 };
        for (let k = 0; k < perCell[n]!; k++) {
          const instance = makeInstance(family, n, m, k, options);
          instances.push(instance);
          cell.instances++;
          if (instance.proved) cell.proved++;
          if (instance.proved && instance.listMakespan > instance.best) cell.listNotOptimal++;
          cell.ms += instance.solver.ms;
          process.stderr.write(
            `${instance.name}: ${instance.proved ? `optimum ${instance.best}` : `best ${instance.best}, lower bound ${instance.lowerBound}`} (list ${instance.listMakespan}, ${instance.solver.provedBy ?? 'unproved'}, ${instance.solver.nodes} nodes, ${instance.solver.ms} ms)\n`,
          );
        }
        summary.push(cell);
      }
    }
  }
  const totalMs = Math.round(performance.now() - begun);
  const header = {
    about:
      'Random task graphs with optimal makespans for P|prec|Cmax (m identical processors, precedence constraints, no communication cost, no preemption, integer costs). How they were made: bench/graphs/README.md.',
    command: 'npm run build && node bench/dist/graphs/make-set.js',
    format:
      'graph is the build-graph example format ({"tasks":[{"id","cost","deps"}]}, deps finish before the task starts); starts[i] is the start time of graph.tasks[i] in a schedule of makespan best; optimum is null unless proved.',
    generator: {
      families,
      sizes,
      machines,
      perCell,
      seeds: 'seedOf(family, n, m, k) in bench/src/graphs/make-set.ts',
    },
    solver: options,
    totalMs,
    summary,
  };
  const lines = Object.entries(header).map(
    ([key, value]) => `${JSON.stringify(key)}:${JSON.stringify(value)}`,
  );
  const body = instances.map((instance) => JSON.stringify(instance)).join(',\n');
  writeFileSync(values.out!, `{${lines.join(',\n')},\n"instances":[\n${body}\n]}\n`);
  const proved = instances.filter((i) => i.proved).length;
  console.log(`${instances.length} instances, ${proved} proved optimal, ${(totalMs / 1000).toFixed(1)} s`);
  console.log('family   n    m   proved  list>opt  ms');
  for (const c of summary) {
    console.log(
      `${c.family.padEnd(8)} ${String(c.n).padStart(3)} ${String(c.m).padStart(3)}   ${`${c.proved}/${c.instances}`.padStart(5)}  ${String(c.listNotOptimal).padStart(8)}  ${c.ms}`,
    );
  }
  console.log(`wrote ${values.out}`);
}

if (import.meta.url === `file://${process.argv[1]}`) main();
