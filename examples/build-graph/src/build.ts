import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Clock,
  createRuntime,
  type DashboardOptions,
  type RequestLike,
  type Runtime,
  systemClock,
  type TraceFileContents,
  TraceRecorder,
} from '@troupe/core';
import { internalSeams, type RuntimeSeams } from '@troupe/core/internal';
import { VirtualClock } from '@troupe/testing';
import { analyse, generateGraph, loadGraph, type Project } from './graph.js';
import {
  Dispatch,
  declaredProject,
  digest,
  dispatcher,
  openRun,
  type ProjectInput,
  project,
  type RunWorld,
  restartableProject,
  worker,
} from './tasks.js';

export interface BuildOptions {
  projects: number;
  /** Nodes on this machine (of `kind`; process nodes beside `remote` ones). */
  nodes: number;
  /**
   * One remote node per entry, launched through that command prefix (`['ssh', 'build-02', '--']`)
   * beside the `nodes` local ones; its secret is `TROUPE_SECRET`'s, or a fresh one for the run.
   */
  remote?: readonly (readonly string[])[];
  kind: 'inproc' | 'thread' | 'process';
  reuse: boolean;
  workMs: number;
  /** A graph file (`{"tasks":[...]}`, `loadGraph`), or the projects themselves, instead of a generated graph. */
  graph?: string | readonly Project[];
  mode: 'dispatcher' | 'requests';
  /**
   * Requests mode: `declared` (default), each project's request declares its dependencies' requests
   * and its task gets their outputs in `ctx.deps`; `discovered` (`--discover`), each project's task
   * asks for its dependencies itself (`ctx.build`), as MSBuild's projects do; `restartable`
   * (`--discover --restartable`), discovered, with tasks the scheduler may start again elsewhere.
   */
  model?: 'declared' | 'discovered' | 'restartable';
  yield: boolean;
  simulate: boolean;
  /** Requests sent ahead to each busy node (the runtime's `nodes.prefetch`); default the runtime's. */
  prefetch?: number | 'auto';
  /**
   * Cores the lower bound may assume (default: `availableParallelism()`); not used under --simulate,
   * where every node is a core of its own.
   */
  cores?: number;
  /** Called as projects finish. */
  onProgress?: (built: number, total: number) => void;
  /** Stall report then error, in (virtual) milliseconds. */
  stallTimeoutMs?: number;
  stallErrorMs?: number;
  seed?: number;
  /** Aborting it stops the build: unfinished projects are cancelled, and the runtime shuts down. */
  signal?: AbortSignal;
  /** Serves the runtime's live view (docs/dashboard.md) for the run; its address goes to `onDashboard`. */
  dashboard?: DashboardOptions;
  onDashboard?: (url: string) => void;
  /** Handed to the runtime: a test's broken rule, to show that `verified` catches a wrong result. */
  [internalSeams]?: RuntimeSeams;
}

/**
 * How the run ended. The counts always add up and agree with `error` (and the command's exit
 * code): `built + failed` is the number of projects; `error` is set exactly when `failed > 0` or
 * the run itself failed. A project whose request failed stays failed for the run (troupe's rule:
 * a request's outcome is final for its runtime), so a dependent that asks for it later fails too
 * instead of building it again.
 */
/** One node of the run, for `--json`: where it ran, its pid there, how many requests it completed. */
export interface NodeReport {
  id: string;
  /** 'local', or the launcher prefix it was started through. */
  where: string;
  pid: number | undefined;
  completed: number;
}

export interface Summary {
  /** Projects built. */
  built: number;
  /** Projects not built: failed (on a lost node, by their task, or because a dependency failed) or never run. */
  failed: number;
  /**
   * Every project's output equals a sequential evaluation of the graph (each output derives from
   * its dependencies' outputs), and every project was built.
   */
  verified: boolean;
  /** Projects whose output differs from the sequential evaluation. */
  mismatched: string[];
  /** Nodes that died or stopped answering during the run; the requests they held failed. */
  lostNodes: number;
  /** Every node the run had, in the order they joined. */
  nodes: NodeReport[];
  /** `declared` or `discovered` (requests mode), or `dispatcher`. */
  mode: 'declared' | 'discovered' | 'restartable' | 'dispatcher';
  /** From the build's start to its end, start-up included. */
  makespanMs: number;
  /**
   * From the runtime's creation to its first node ready: the part of the makespan no schedule can
   * save (the whole run, if no node ever was ready).
   */
  startupMs: number;
  /** How many projects the lower bound assumes can run at once: nodes, at most the cores there are. */
  parallelism: number;
  /** max(critical path, total work ÷ parallelism): no schedule on these nodes can do better. */
  lowerBoundMs: number;
  /** makespan ÷ lower bound. */
  ratio: number;
  /** (makespan − start-up) ÷ lower bound: the schedule's own quality. */
  ratioExcludingStartup: number;
  /**
   * Requests restarted after their node or their wait was given up (restartable requests): none
   * yet, as core does not restart requests; the field is here so the output's shape stays put.
   */
  restarts: number;
  error?: string;
  /** The build was stopped through `signal` (Ctrl-C) before it finished. */
  interrupted: boolean;
  /**
   * The run's timeline, as the runtime recorded it (docs/tracing.md): every request's states,
   * each node's runs and lifecycle, arrows from each project to those that waited on it; in
   * dispatcher mode also a track per worker of the projects it built. `--trace FILE` writes it.
   */
  trace: TraceFileContents;
}

/** Builds started in this process: with the pid, what makes a run id unique. */
let runs = 0;

/** Each project's output, evaluated one project at a time in dependency order: the oracle. */
function reference(projects: readonly Project[]): Map<string, string> {
  const byId = new Map(projects.map((p) => [p.id, p]));
  const outputs = new Map<string, string>();
  const order: Project[] = [];
  const visited = new Set<string>();
  // Iterative depth-first order: a long chain must not overflow the stack.
  for (const root of projects) {
    const stack: Array<{ project: Project; next: number }> = [{ project: root, next: 0 }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (top.next === 0 && visited.has(top.project.id)) {
        stack.pop();
        continue;
      }
      visited.add(top.project.id);
      const dep = top.project.deps[top.next++];
      if (dep === undefined) {
        order.push(top.project);
        stack.pop();
      } else if (!visited.has(dep)) stack.push({ project: byId.get(dep)!, next: 0 });
    }
  }
  for (const p of order)
    outputs.set(
      p.id,
      digest(
        p.id,
        p.deps.map((dep) => outputs.get(dep)!),
      ),
    );
  return outputs;
}

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
  const model = options.model ?? 'declared';
  const projectTask =
    model === 'declared' ? declaredProject : model === 'restartable' ? restartableProject : project;
  const projects: Project[] =
    options.graph === undefined
      ? generateGraph(options.projects, options.workMs, options.seed ?? 1)
      : typeof options.graph === 'string'
        ? loadGraph(options.graph)
        : options.graph.map((p) => ({ id: p.id, cost: p.cost, deps: [...p.deps] }));
  const graph = analyse(projects);
  const parallelism = boundParallelism(options);
  const lowerBoundMs = Math.max(graph.criticalPath, graph.totalWork / parallelism);
  const virtual = options.simulate ? new VirtualClock() : undefined;
  const clock: Clock = virtual ?? systemClock;
  const directory = mkdtempSync(join(tmpdir(), 'troupe-build-graph-'));
  const graphFile = join(directory, 'graph.json');
  writeFileSync(graphFile, JSON.stringify({ tasks: projects }));
  const runId = `run-${process.pid}-${++runs}`;
  const created = clock.now();
  const recorder = new TraceRecorder();
  const remote = options.remote ?? [];
  const runtime: Runtime = createRuntime({
    nodes: {
      ...(remote.length > 0 && !options.simulate
        ? {
            kind: 'remote' as const,
            local: options.nodes,
            launch: remote.map((prefix) => ({ prefix: [...prefix] })),
            // Without TROUPE_SECRET the runtime makes a fresh secret for the run, and hands it to
            // each node on its stdin: secure with no setup, and never in a process list.
            ...(process.env.TROUPE_SECRET && { secret: { env: 'TROUPE_SECRET' } }),
            max: options.nodes + remote.length,
          }
        : { kind: options.simulate ? 'inproc' : options.kind, max: options.nodes, reuse: options.reuse }),
      ...(options.prefetch !== undefined && { prefetch: options.prefetch }),
    },
    clock,
    stallTimeoutMs: options.stallTimeoutMs ?? 2_000,
    stallErrorMs: options.stallErrorMs ?? 3_000,
    trace: recorder,
    ...(options[internalSeams] && { [internalSeams]: options[internalSeams] }),
  });
  if (options.dashboard) {
    try {
      options.onDashboard?.((await runtime.serveDashboard(options.dashboard)).url);
    } catch (error) {
      await runtime.shutdown();
      rmSync(directory, { recursive: true, force: true });
      throw error;
    }
  }
  let firstNodeAt: number | undefined;
  runtime.once('node', () => {
    firstNodeAt = clock.now();
  });
  const nodes = new Map<string, NodeReport>();
  runtime.on('node', (node) =>
    nodes.set(node.id, { id: node.id, where: node.location, pid: node.pid, completed: 0 }),
  );
  runtime.on('request', (request, _from, to) => {
    const report = to === 'completed' && request.node !== undefined ? nodes.get(request.node) : undefined;
    if (report) report.completed++;
  });
  const start = clock.now();
  let built = 0;
  const progress = () => {
    built++;
    options.onProgress?.(built, projects.length);
  };
  const lost: string[] = [];
  runtime.on('node.lost', (_node, error) => lost.push(error.message.split('\n')[0]!));
  /**
   * Projects whose request failed: held by a lost node, given to a node that could not start,
   * failed by their task, or by a dependency.
   */
  const failures = { onLostNode: 0, noNode: 0, byDependency: 0, byTask: 0 };
  // The tasks find what this build shares with them (its virtual clock, its dispatcher's queue)
  // by the run id in their input; closed once the runtime has shut down.
  const world: RunWorld = virtual ? { clock: virtual } : {};
  const closeRun = openRun(runId, world);
  let run: Promise<unknown>;
  let dispatch: Dispatch | undefined;
  if (options.mode === 'requests') {
    runtime.on('request', (request, _from, to) => {
      if (!request.spec.task.endsWith(`#${projectTask.name}`)) return;
      if (to === 'completed') progress();
      else if (to === 'failed') {
        // A dependency failed: declared, the scheduler failed the project here without running it
        // (DependencyFailedError); discovered, its task let the node's DependencyFailedError through.
        const error = request.error as { code?: string; remoteCode?: string } | undefined;
        if (error?.code === 'TROUPE_NODE_CONNECTION_FAILED' || error?.code === 'TROUPE_NODE_UNRESPONSIVE')
          failures.onLostNode++;
        else if (error?.code === 'TROUPE_NODE_LAUNCH_FAILED' || error?.code === 'TROUPE_REMOTE_NODE_FAILED')
          failures.noNode++;
        else if (
          error?.code === 'TROUPE_DEPENDENCY_FAILED' ||
          error?.remoteCode === 'TROUPE_DEPENDENCY_FAILED'
        )
          failures.byDependency++;
        else failures.byTask++;
      }
    });
    run = runtime.build(
      model === 'declared'
        ? declaredRequests(projects, graphFile, runId)
        : projects.map((p) => ({
            task: projectTask,
            input: { id: p.id, graph: graphFile, run: runId },
            // The task discovers its dependencies only once it runs: its own longest remaining
            // chain is the one thing the scheduler cannot work out for itself.
            cost: graph.remaining.get(p.id)!,
          })),
      { signal: options.signal },
    );
  } else {
    // The projects are not requests here (workers build them inside their own): a track of the
    // timeline per worker shows which built what, beside the runtime's own tracks.
    const projects = recorder.process('projects');
    const workers = Array.from({ length: options.nodes }, (_, index) => projects.thread(`worker ${index}`));
    const starts = new Map<string, number>();
    dispatch = new Dispatch(graph, {
      started: (id) => starts.set(id, clock.now()),
      built: (id, index) => {
        workers[index]!.span(id, starts.get(id) ?? clock.now(), clock.now());
        progress();
      },
    });
    world.dispatch = dispatch;
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
  let outputs: ReadonlyMap<string, string> = new Map();
  try {
    const values = await (virtual ? simulate(virtual, run) : run);
    outputs =
      options.mode === 'requests'
        ? new Map(projects.map((p, index) => [p.id, (values as string[])[index]!]))
        : dispatch!.outputs;
  } catch (caught) {
    error = caught as Error;
  }
  const expected = reference(projects);
  const mismatched = projects
    .filter((p) => outputs.has(p.id) && outputs.get(p.id) !== expected.get(p.id))
    .map((p) => p.id);
  const makespanMs = clock.now() - start;
  const startupMs = Math.min(makespanMs, firstNodeAt === undefined ? makespanMs : firstNodeAt - created);
  try {
    const shutdown = runtime.shutdown({ reuse: options.reuse });
    await (virtual ? simulate(virtual, shutdown) : shutdown);
  } finally {
    closeRun();
    rmSync(directory, { recursive: true, force: true });
  }
  const failed = projects.length - built;
  const message =
    failed > 0 || error ? describeFailure(projects.length, failed, lost, failures, error) : undefined;
  return {
    built,
    failed,
    verified: !error && mismatched.length === 0 && outputs.size === projects.length,
    mismatched,
    lostNodes: lost.length,
    nodes: [...nodes.values()],
    mode: options.mode === 'dispatcher' ? 'dispatcher' : model,
    makespanMs,
    startupMs,
    parallelism,
    lowerBoundMs,
    ratio: makespanMs / lowerBoundMs,
    ratioExcludingStartup: (makespanMs - startupMs) / lowerBoundMs,
    restarts: runtime.scheduler.restarts,
    ...(message !== undefined && { error: message }),
    interrupted: options.signal?.aborted ?? false,
    trace: recorder.toJSON(),
  };
}

/**
 * How many projects can run at once, for the lower bound: under --simulate every node is a core
 * of its own; in-process nodes share the host's one thread, so their (busy) work runs one project
 * at a time; thread and process nodes run as many as there are cores, at most one per node.
 */
export function boundParallelism(
  options: Pick<BuildOptions, 'simulate' | 'kind' | 'nodes' | 'cores' | 'remote'>,
): number {
  if (options.simulate) return options.nodes;
  if (options.kind === 'inproc') return 1;
  // Remote nodes count as if they shared this machine's cores (as nodes in network namespaces
  // do): on machines of their own, the bound is looser than it could be.
  return Math.min(options.nodes + (options.remote?.length ?? 0), options.cores ?? availableParallelism());
}

/**
 * The declared model's requests: one per project, each declaring its dependencies' requests. A
 * project's request is one object, shared by every project that depends on it, so the graph
 * travels (and is walked) once, in time linear in its size; its cost is the project's own, and
 * the scheduler works out the longest chain behind it (its bottom level) from the declared graph.
 */
function declaredRequests(projects: readonly Project[], graphFile: string, runId: string): RequestLike[] {
  const requests = new Map<string, RequestLike<ProjectInput> & { deps: RequestLike[] }>();
  for (const p of projects)
    requests.set(p.id, {
      task: declaredProject,
      input: { id: p.id, graph: graphFile, run: runId },
      cost: p.cost,
      deps: [],
    });
  for (const p of projects) requests.get(p.id)!.deps.push(...p.deps.map((dep) => requests.get(dep)!));
  return [...requests.values()];
}

/**
 * One message for a run that did not build everything, that agrees with the counts: how many
 * projects failed and why, the lost nodes first (the usual root cause), then the first error.
 */
function describeFailure(
  total: number,
  failed: number,
  lost: string[],
  failures: { onLostNode: number; noNode: number; byDependency: number; byTask: number },
  error: Error | undefined,
): string {
  const parts: string[] = [];
  if (lost.length > 0) parts.push(`${lost.length} node(s) lost: ${lost.join('; ')}`);
  if (failed > 0) {
    const why = [
      failures.onLostNode > 0 && `${failures.onLostNode} held by a lost node`,
      failures.noNode > 0 && `${failures.noNode} because no node could start`,
      failures.byTask > 0 && `${failures.byTask} failed in their task`,
      failures.byDependency > 0 && `${failures.byDependency} because a dependency failed`,
    ].filter(Boolean);
    parts.push(`${failed} of ${total} projects not built${why.length > 0 ? ` (${why.join(', ')})` : ''}`);
  }
  if (error && (lost.length === 0 || failed === 0)) parts.push(error.message);
  return parts.join('; ');
}
