import { readFileSync } from 'node:fs';
import { buildGraph } from '@troupe/example-build-graph';
import type { Project } from '@troupe/example-build-graph/graph';
import type { Row, SuiteOptions } from '../measure.js';

/** An instance of bench/graphs/set.json, as far as this suite reads it (bench/graphs/README.md). */
export interface Instance {
  name: string;
  family: string;
  n: number;
  m: number;
  optimum: number | null;
  proved: boolean;
  graph: { tasks: Project[] };
}

export type Model = 'declared' | 'discovered' | 'restartable';

/** The set's instances whose optimum is proved: the only ones a ratio to the optimum means anything for. */
export function provedInstances(file = new URL('../../graphs/set.json', import.meta.url)): Instance[] {
  const set = JSON.parse(readFileSync(file, 'utf8')) as { instances: Instance[] };
  return set.instances.filter((instance) => instance.proved && instance.optimum !== null);
}

/**
 * The build-graph example's build of one instance under --simulate: a virtual clock, in-process
 * nodes, each task's cost in virtual ms, the instance's m nodes. Deterministic: the makespan is
 * the same on every run and every machine. Throws unless every project was built and verified.
 */
export async function simulatedMakespan(instance: Instance, model: Model): Promise<number> {
  const summary = await buildGraph({
    projects: instance.graph.tasks.length,
    graph: instance.graph.tasks,
    nodes: instance.m,
    kind: 'inproc',
    reuse: false,
    workMs: 1,
    mode: 'requests',
    model,
    yield: true,
    simulate: true,
  });
  if (!summary.verified || summary.error)
    throw new Error(
      `${instance.name} (${model}): ${summary.error ?? 'outputs differ from a sequential evaluation'}`,
    );
  return summary.makespanMs;
}

export interface Quality {
  model: Model;
  count: number;
  /** Mean and worst of makespan ÷ optimum. */
  mean: number;
  worst: number;
  worstName: string;
  /** Instances where the makespan is the optimum. */
  optimal: number;
  /** Each instance's makespan, by name. */
  makespans: Map<string, number>;
}

/** Every instance built in `model`, and the ratios of their makespans to their optima. */
export async function quality(instances: readonly Instance[], model: Model): Promise<Quality> {
  const makespans = new Map<string, number>();
  let sum = 0;
  let worst = 0;
  let worstName = '';
  let optimal = 0;
  for (const instance of instances) {
    const makespan = await simulatedMakespan(instance, model);
    makespans.set(instance.name, makespan);
    const ratio = makespan / instance.optimum!;
    sum += ratio;
    if (ratio > worst) {
      worst = ratio;
      worstName = instance.name;
    }
    if (makespan === instance.optimum) optimal++;
  }
  return {
    model,
    count: instances.length,
    mean: sum / instances.length,
    worst,
    worstName,
    optimal,
    makespans,
  };
}

/**
 * Scheduling quality: the example's build of every proved instance of bench/graphs/set.json under
 * --simulate (zero communication cost, as the optima assume), makespan ÷ proved optimum, for
 * dependencies declared up front and for dependencies discovered by each task (MSBuild's model).
 * The baseline column is 1 (the optimum); value and ratio are the mean ratio, and the worst one.
 */
export async function qualitySuite({ quick }: SuiteOptions): Promise<Row[]> {
  const all = provedInstances();
  // Quick: every 10th instance, both families and every m.
  const instances = quick ? all.filter((_, index) => index % 10 === 0) : all;
  const rows: Row[] = [];
  const goals: Record<Model, { mean: string; worst: string }> = {
    declared: { mean: '<= 1.03', worst: '<= 1.15' },
    discovered: { mean: '', worst: '' },
    restartable: { mean: '<= 1.10', worst: '' },
  };
  const names: Record<Model, string> = {
    declared: 'declared dependencies',
    discovered: 'discovered dependencies (ctx.build)',
    restartable: 'discovered dependencies, restartable requests (--discover --restartable)',
  };
  for (const model of ['declared', 'discovered', 'restartable'] as const) {
    const result = await quality(instances, model);
    const what = `${names[model]}, ${result.count} set.json graphs (--simulate, m nodes), makespan / optimum`;
    rows.push(
      ratioRow(`${what}: mean (${result.optimal} optimal)`, result.mean, goals[model].mean),
      ratioRow(`${what}: worst (${result.worstName})`, result.worst, goals[model].worst),
    );
  }
  return rows;
}

function ratioRow(name: string, ratio: number, goal: string): Row {
  return {
    suite: 'quality',
    name,
    unit: 'ratio',
    value: ratio,
    baseline: 1,
    ratio,
    ...(goal && { goal }),
  };
}
