import { fileURLToPath } from 'node:url';
import { createRuntime } from '@troupe/core';
import { buildGraph } from '@troupe/example-build-graph';
import { analyse, generateGraph } from '@troupe/example-build-graph/graph';
import { Piscina } from 'piscina';
import { alternate, type Row, row, type SuiteOptions } from '../measure.js';

const worker = new URL('../../workers/noop.mjs', import.meta.url);

/** No-op tasks per second through piscina with 2 threads. */
async function piscinaRate(count: number): Promise<number> {
  const pool = new Piscina({ filename: fileURLToPath(worker), minThreads: 2, maxThreads: 2 });
  await Promise.all(Array.from({ length: 100 }, (_, i) => pool.run(i)));
  const start = performance.now();
  await Promise.all(Array.from({ length: count }, (_, i) => pool.run(i)));
  const rate = count / ((performance.now() - start) / 1000);
  await pool.destroy();
  return rate;
}

/**
 * No-op tasks per second through a troupe runtime on 2 thread nodes (each request distinct, so
 * none is cached), with requests sent ahead to busy nodes (`prefetch`), as piscina queues tasks
 * for its workers.
 */
async function troupeRate(count: number, round: number): Promise<number> {
  const runtime = createRuntime({ nodes: { kind: 'thread', max: 2, prefetch: 256 } });
  const task = `${worker.href}#noopTask`;
  await runtime.build(Array.from({ length: 100 }, (_, i) => ({ task, input: `warm-${round}-${i}` })));
  const start = performance.now();
  await runtime.build(Array.from({ length: count }, (_, i) => ({ task, input: `${round}-${i}` })));
  const rate = count / ((performance.now() - start) / 1000);
  await runtime.shutdown();
  return rate;
}

export async function tasksSuite({ quick }: SuiteOptions): Promise<Row[]> {
  const count = quick ? 2_000 : 50_000;
  let round = 0;
  const rate = await alternate(
    quick ? 1 : 5,
    () => piscinaRate(count),
    () => troupeRate(count, round++),
  );
  const rows = [
    row(
      'tasks',
      'no-op tasks/s, 2 thread nodes (prefetch 256) vs piscina with 2 threads',
      'tasks/s',
      rate,
      '>= 3',
    ),
  ];
  // Makespan of the 800-project graph on 16 nodes under --simulate, against its lower bound.
  const graph = analyse(generateGraph(800, 5, 1));
  const summary = await buildGraph({
    projects: 800,
    nodes: 16,
    kind: 'inproc',
    reuse: false,
    workMs: 5,
    mode: 'requests',
    yield: true,
    simulate: true,
  });
  if (summary.error) throw new Error(summary.error);
  rows.push(
    row(
      'tasks',
      '800-project makespan on 16 nodes (--simulate) vs lower bound',
      'virtual ms',
      { value: summary.makespanMs, baseline: Math.max(graph.criticalPath, graph.totalWork / 16) },
      '<= 1.10',
    ),
  );
  return rows;
}
