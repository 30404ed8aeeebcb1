import { createHash } from 'node:crypto';
import { defineTask, type Task } from '@troupe/core';
import { analyse, type Graph, loadGraph } from './graph.js';

/**
 * The tasks nodes run. `project` builds one project after its dependencies (requests mode);
 * `dispatcher` and `worker` are the dispatcher/worker pattern, which shares its queue in memory
 * and so needs in-process nodes.
 */

interface Clockish {
  setTimeout(callback: () => void, ms: number): unknown;
}

/** Under --simulate, the host puts its virtual clock here and work takes virtual time. */
const simulation = globalThis as { __buildGraphClock?: Clockish; __buildGraphRuns?: Map<string, Dispatch> };

/** Simulated CPU work: the node stays busy (it does not yield) for `ms`. */
async function work(ms: number): Promise<void> {
  const clock = simulation.__buildGraphClock;
  if (clock) {
    await new Promise<void>((resolve) => clock.setTimeout(resolve, ms));
    return;
  }
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // Busy on purpose: this is what a compiler does to a node.
  }
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

/** Requests mode: a project is a request that first builds its dependencies (`ctx.build`). */
export const project: Task<{ id: string; graph: string }, string> = defineTask({
  name: 'project',
  async run(input: { id: string; graph: string }, ctx): Promise<string> {
    const graph = graphFrom(input.graph);
    const self = graph.byId.get(input.id);
    if (!self) throw new Error(`no project ${input.id} in ${input.graph}`);
    const outputs = await ctx.build<string>(
      self.deps.map((id) => ({
        task: project,
        input: { id, graph: input.graph },
        cost: graph.remaining.get(id)!,
      })),
    );
    await work(self.cost);
    return digest(input.id, outputs);
  },
});

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
  const dispatch = simulation.__buildGraphRuns?.get(run);
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
      await work(dispatch.cost(next));
      dispatch.finish(next, input.index, digest(next, inputs));
      built++;
    }
  },
});
