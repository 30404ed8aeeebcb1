import { createHash } from 'node:crypto';
import { type Clock, defineTask, type Task, type TaskContext } from '@troupe/core';
import { analyse, type Graph, loadGraph } from './graph.js';
import { spin } from './work.js';

/**
 * The tasks nodes run. `project` builds one project after its dependencies (requests mode);
 * `dispatcher` and `worker` are the dispatcher/worker pattern, which shares its queue in memory
 * and so needs in-process nodes.
 */

/**
 * What a build shares in memory with its tasks: the virtual clock their work waits on under
 * --simulate, and the dispatcher's queue in dispatcher mode. Neither can travel in a request's
 * input (inputs are serialized), so a task finds its build's by the run id in its input. Only
 * in-process nodes, which run on the host's event loop and import this same module, find one;
 * on a thread or process node there is none, and work takes real time.
 */
export interface RunWorld {
  clock?: Clock;
  dispatch?: Dispatch;
}

const worlds = new Map<string, RunWorld>();

/** Makes `world` what the tasks of run `run` find, until the returned function is called. */
export function openRun(run: string, world: RunWorld): () => void {
  if (worlds.has(run)) throw new Error(`run ${run} is already open`);
  worlds.set(run, world);
  return () => worlds.delete(run);
}

/**
 * Simulated CPU work: the node stays busy (it does not yield) for `ms` of CPU at full speed, and
 * at least `ms` of wall time (`spin`); virtual time under --simulate. CPU, not a wall-clock
 * deadline: more nodes than cores do not finish sooner than the cores allow, which is what the
 * lower bound in build.ts assumes.
 */
async function work(run: string, ms: number): Promise<void> {
  const clock = worlds.get(run)?.clock;
  if (clock) {
    await new Promise<void>((resolve) => clock.setTimeout(resolve, ms));
    return;
  }
  spin(ms);
}

const graphs = new Map<string, Graph>();
function graphFrom(file: string): Graph {
  let graph = graphs.get(file);
  if (!graph) {
    graph = analyse(loadGraph(file));
    graphs.set(file, graph);
  }
  return graph;
}

/**
 * A project's output: a digest of its name and its dependencies' outputs, in order. Any output
 * handed to the wrong project, out of order, or not at all changes every digest downstream, so
 * the host can check the whole build against a sequential evaluation (`reference` in build.ts).
 */
export function digest(id: string, deps: readonly string[]): string {
  return createHash('sha256')
    .update(`${id}<${deps.join(',')}`)
    .digest('hex')
    .slice(0, 16);
}

/** A project request: which project, in which graph file, for which run. */
export interface ProjectInput {
  id: string;
  graph: string;
  run: string;
}

/**
 * Requests mode, declared model (the default): the request for a project declares the requests
 * for its dependencies (`deps`), so the scheduler starts it only once they are done, and it gets
 * their outputs in `ctx.deps`, in the order declared.
 */
export const declaredProject: Task<ProjectInput, string> = defineTask({
  name: 'declaredProject',
  async run(input: ProjectInput, ctx): Promise<string> {
    const self = graphFrom(input.graph).byId.get(input.id);
    if (!self) throw new Error(`no project ${input.id} in ${input.graph}`);
    const outputs = ctx.deps as string[];
    if (outputs.length !== self.deps.length)
      throw new Error(
        `${input.id} has ${self.deps.length} dependencies but was given ${outputs.length} outputs`,
      );
    await work(input.run, self.cost);
    return digest(input.id, outputs);
  },
});

/**
 * Requests mode, discovered model (`--discover`, MSBuild's): a project is a request that first
 * asks for its dependencies (`ctx.build`), its node free while it waits, then does its work.
 */
export const project: Task<ProjectInput, string> = defineTask({
  name: 'project',
  run: (input: ProjectInput, ctx) => discoverAndBuild(project, input, ctx),
});

/**
 * `project`, declared safe to start again (`--discover --restartable`): everything before its
 * ctx.build may run twice, so the scheduler may drop a run that waits there and start the project
 * again on a free node rather than wait for the busy node the run is pinned to.
 */
export const restartableProject: Task<ProjectInput, string> = defineTask({
  name: 'restartableProject',
  restartable: true,
  run: (input: ProjectInput, ctx) => discoverAndBuild(restartableProject, input, ctx),
});

/** A project that asks for its dependencies (requests of `task`) as it runs, then does its work. */
async function discoverAndBuild(
  task: Task<ProjectInput, string>,
  input: ProjectInput,
  ctx: TaskContext,
): Promise<string> {
  const graph = graphFrom(input.graph);
  const self = graph.byId.get(input.id);
  if (!self) throw new Error(`no project ${input.id} in ${input.graph}`);
  const outputs = await ctx.build<string>(
    self.deps.map((id) => ({
      task,
      input: { id, graph: input.graph, run: input.run },
      cost: graph.remaining.get(id)!,
    })),
  );
  await work(input.run, self.cost);
  return digest(input.id, outputs);
}

/** The dispatcher's state, shared in memory with its workers. */
export class Dispatch {
  readonly #graph: Graph;
  readonly #ready: string[] = [];
  readonly #waiting: Array<(id: string | null) => void> = [];
  readonly #unbuiltDeps = new Map<string, number>();
  readonly #dependents = new Map<string, string[]>();
  #wake: (() => void) | undefined;
  #events = 0;
  built = 0;
  /** Each built project's output (`digest`), as its worker reported it. */
  readonly outputs = new Map<string, string>();

  constructor(
    graph: Graph,
    readonly hooks: {
      started?: (id: string, worker: number) => void;
      built?: (id: string, worker: number) => void;
    } = {},
  ) {
    this.#graph = graph;
    for (const project of graph.projects) {
      this.#unbuiltDeps.set(project.id, project.deps.length);
      for (const dep of project.deps) {
        const list = this.#dependents.get(dep) ?? [];
        list.push(project.id);
        this.#dependents.set(dep, list);
      }
      if (project.deps.length === 0) this.#ready.push(project.id);
    }
    this.#sortReady();
  }

  get total(): number {
    return this.#graph.projects.length;
  }

  cost(id: string): number {
    return this.#graph.byId.get(id)!.cost;
  }

  /** The outputs of a project's dependencies, in order, as built so far. */
  inputsOf(id: string): string[] {
    return this.#graph.byId.get(id)!.deps.map((dep) => this.outputs.get(dep) ?? '(not built)');
  }

  /** A worker asks for its next project; null when the build is over. */
  ask(): Promise<string | null> {
    return new Promise((resolve) => {
      this.#waiting.push(resolve);
      this.#signal();
    });
  }

  start(id: string, worker: number): void {
    this.hooks.started?.(id, worker);
  }

  finish(id: string, worker: number, output: string): void {
    this.outputs.set(id, output);
    this.built++;
    this.hooks.built?.(id, worker);
    for (const next of this.#dependents.get(id) ?? []) {
      const left = this.#unbuiltDeps.get(next)! - 1;
      this.#unbuiltDeps.set(next, left);
      if (left === 0) this.#ready.push(next);
    }
    this.#sortReady();
    this.#signal();
  }

  /** The dispatcher's turn: hand ready projects to waiting workers, longest remaining path first. */
  assign(): boolean {
    while (this.#ready.length > 0 && this.#waiting.length > 0) this.#waiting.shift()!(this.#ready.shift()!);
    if (this.built === this.total) {
      for (const worker of this.#waiting.splice(0)) worker(null);
      return true;
    }
    return false;
  }

  /** Resolves at the next ask or finish (or at once if one happened since the last call). */
  nextEvent(): Promise<void> {
    if (this.#events > 0) {
      this.#events = 0;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.#wake = () => {
        this.#events = 0;
        resolve();
      };
    });
  }

  #signal(): void {
    this.#events++;
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #sortReady(): void {
    const remaining = this.#graph.remaining;
    this.#ready.sort((a, b) => remaining.get(b)! - remaining.get(a)!);
  }
}

function dispatchFor(run: string): Dispatch {
  const dispatch = worlds.get(run)?.dispatch;
  if (!dispatch)
    throw new Error(`no dispatch ${run} in this process: the dispatcher mode needs in-process nodes`);
  return dispatch;
}

/** Hands projects to workers; yields its node while it waits for a worker to ask or finish. */
export const dispatcher = defineTask({
  name: 'dispatcher',
  async run(input: { run: string }, ctx) {
    const dispatch = dispatchFor(input.run);
    while (!dispatch.assign()) await ctx.yielding(() => dispatch.nextEvent());
    return dispatch.built;
  },
});

/** Asks for a project, builds it, reports it, again; yields while it waits unless told not to. */
export const worker = defineTask({
  name: 'worker',
  async run(input: { run: string; index: number; yield: boolean }, ctx) {
    const dispatch = dispatchFor(input.run);
    let built = 0;
    for (;;) {
      const next = input.yield ? await ctx.yielding(() => dispatch.ask()) : await dispatch.ask();
      if (next === null) return built;
      dispatch.start(next, input.index);
      const inputs = dispatch.inputsOf(next);
      await work(input.run, dispatch.cost(next));
      dispatch.finish(next, input.index, digest(next, inputs));
      built++;
    }
  },
});
