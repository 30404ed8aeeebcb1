import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Clock, createRuntime, type Runtime, systemClock } from '@troupe/core';
import { VirtualClock } from '@troupe/testing';
import { analyse, generateGraph, loadGraph, type Project } from './graph.js';
import { Dispatch, dispatcher, project, worker } from './tasks.js';

export interface BuildOptions {
  projects: number;
  nodes: number;
  kind: 'inproc' | 'thread' | 'process';
  reuse: boolean;
  workMs: number;
  graph?: string;
  mode: 'dispatcher' | 'requests';
  yield: boolean;
  simulate: boolean;
  /** Called as projects finish. */
  onProgress?: (built: number, total: number) => void;
  /** Stall report then error, in (virtual) milliseconds. */
  stallTimeoutMs?: number;
  stallErrorMs?: number;
  seed?: number;
  /** Aborting it stops the build: unfinished projects are cancelled, and the runtime shuts down. */
  signal?: AbortSignal;
}

export interface TraceEvent {
  name: string;
  ph: 'X';
  ts: number;
  dur: number;
  pid: number;
  tid: number;
}

export interface Summary {
  built: number;
  failed: number;
  makespanMs: number;
  lowerBoundMs: number;
  ratio: number;
  error?: string;
  /** The build was stopped through `signal` (Ctrl-C) before it finished. */
  interrupted: boolean;
  trace: TraceEvent[];
}

const simulation = globalThis as { __buildGraphClock?: Clock; __buildGraphRuns?: Map<string, Dispatch> };

/**
 * Under --simulate nothing real takes time: every delivery is a microtask and every wait a
 * virtual timer. Let the microtasks (and the odd real I/O, like importing the task module) run,
 * then move the clock to the next timer; repeat until the build settles.
 */
async function simulate<T>(clock: VirtualClock, work: Promise<T>): Promise<T> {
  let settled = false;
  const result = work.finally(() => {
    settled = true;
  });
  result.catch(() => {});
  let idle = 0;
  while (!settled) {
    await new Promise((resolve) => setImmediate(resolve));
    if (settled) break;
    if (clock.fireNext()) {
      idle = 0;
      continue;
    }
    // Nothing scheduled in virtual time: something real (a module load) is in progress.
    if (++idle > 10_000)
      throw new Error('the simulation is stuck: no timer is armed and the build did not finish');
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  return result;
}

export async function buildGraph(options: BuildOptions): Promise<Summary> {
  if (options.mode === 'dispatcher' && options.kind !== 'inproc' && !options.simulate) {
    throw new Error(
      '--mode dispatcher shares its queue in memory and needs --kind inproc (or --simulate); use --mode requests',
    );
  }
  const projects: Project[] = options.graph
    ? loadGraph(options.graph)
    : generateGraph(options.projects, options.workMs, options.seed ?? 1);
  const graph = analyse(projects);
  const lowerBoundMs = Math.max(graph.criticalPath, graph.totalWork / options.nodes);
  const virtual = options.simulate ? new VirtualClock() : undefined;
  const clock: Clock = virtual ?? systemClock;
  const directory = mkdtempSync(join(tmpdir(), 'troupe-build-graph-'));
  const graphFile = join(directory, 'graph.json');
  writeFileSync(graphFile, JSON.stringify({ tasks: projects }));
  if (virtual) simulation.__buildGraphClock = virtual;
  const runtime: Runtime = createRuntime({
    nodes: {
      kind: options.simulate ? 'inproc' : options.kind,
      max: options.nodes,
      reuse: options.reuse,
    },
    clock,
    stallTimeoutMs: options.stallTimeoutMs ?? 2_000,
    stallErrorMs: options.stallErrorMs ?? 3_000,
  });
  const trace: TraceEvent[] = [];
  const tids = new Map<string, number>();
  const tid = (node: string) => {
    let id = tids.get(node);
    if (id === undefined) {
      id = tids.size + 1;
      tids.set(node, id);
    }
    return id;
  };
  const start = clock.now();
  const us = (ms: number) => Math.round((ms - start) * 1000);
  let built = 0;
  const progress = () => {
    built++;
    options.onProgress?.(built, projects.length);
  };
  let run: Promise<unknown>;
  if (options.mode === 'requests') {
    const began = new Map<string, number>();
    runtime.on('request', (request, _from, to) => {
      if (!request.spec.task.endsWith('#project')) return;
      const id = (request.spec.input as { id: string }).id;
      if (to === 'executing') began.set(request.id, clock.now());
      else if (began.has(request.id)) {
        const at = began.get(request.id)!;
        began.delete(request.id);
        trace.push({
          name: id,
          ph: 'X',
          ts: us(at),
          dur: us(clock.now()) - us(at),
          pid: 1,
          tid: tid(request.node!),
        });
      }
      if (to === 'completed') progress();
    });
    run = runtime.build(
      projects.map((p) => ({
        task: project,
        input: { id: p.id, graph: graphFile },
        cost: graph.remaining.get(p.id)!,
      })),
      { signal: options.signal },
    );
  } else {
    const runId = `run-${process.pid}-${Math.round(clock.now())}`;
    const starts = new Map<string, number>();
    const dispatch = new Dispatch(graph, {
      started: (id) => starts.set(id, clock.now()),
      built: (id, index) => {
        const at = starts.get(id) ?? clock.now();
        trace.push({ name: id, ph: 'X', ts: us(at), dur: us(clock.now()) - us(at), pid: 1, tid: index + 1 });
        progress();
      },
    });
    simulation.__buildGraphRuns ??= new Map();
    simulation.__buildGraphRuns.set(runId, dispatch);
    run = runtime.build(
      [
        { task: dispatcher, input: { run: runId } },
        ...Array.from({ length: options.nodes }, (_, index) => ({
          task: worker,
          input: { run: runId, index, yield: options.yield },
        })),
      ],
      { signal: options.signal },
    );
  }
  let error: Error | undefined;
  try {
    await (virtual ? simulate(virtual, run) : run);
  } catch (caught) {
    error = caught as Error;
  }
  const makespanMs = clock.now() - start;
  try {
    const shutdown = runtime.shutdown({ reuse: options.reuse });
    await (virtual ? simulate(virtual, shutdown) : shutdown);
  } finally {
    if (virtual && simulation.__buildGraphClock === virtual) delete simulation.__buildGraphClock;
    rmSync(directory, { recursive: true, force: true });
  }
  return {
    built,
    failed: projects.length - built,
    makespanMs,
    lowerBoundMs,
    ratio: makespanMs / lowerBoundMs,
    ...(error && { error: error.message }),
    interrupted: options.signal?.aborted ?? false,
    trace,
  };
}
