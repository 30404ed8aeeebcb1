// Tasks and jobs the built-in scenarios run. Nodes in a simulation are in-process endpoints, so
// these run on the simulation's event loop; what they wait on goes through `world`, which each
// scenario resets, so nothing carries over from one schedule to the next.
import { type Clock, defineJob, defineTask } from '@troupe/core';

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** The board of the dispatcher scenario: projects, their dependencies, who waits for what. */
export class Board {
  readonly #deps: Map<string, string[]>;
  readonly #done = new Set<string>();
  readonly #handedOut = new Set<string>();
  readonly #asking = new Map<string, Deferred<string | undefined>>();
  #event = deferred<void>();

  constructor(projects: Record<string, string[]>) {
    this.#deps = new Map(Object.entries(projects));
  }

  get left(): number {
    return this.#deps.size - this.#done.size;
  }

  get built(): number {
    return this.#done.size;
  }

  /** A worker asks for its next project; undefined once everything is built. */
  ask(worker: string): Promise<string | undefined> {
    // Everything built: the answer needs no dispatcher (which may have finished already; the
    // model checker found a worker that started late waiting forever on one that had).
    if (this.left === 0) return Promise.resolve(undefined);
    const request = deferred<string | undefined>();
    this.#asking.set(worker, request);
    this.#signal();
    return request.promise;
  }

  finish(project: string): void {
    this.#done.add(project);
    this.#signal();
  }

  /** Resolves at the next ask or finish. */
  nextEvent(): Promise<void> {
    return this.#event.promise;
  }

  /** Hands ready projects to waiting workers; tells them to stop once all is built. */
  assign(): void {
    for (const [worker, request] of this.#asking) {
      if (this.left === 0) {
        this.#asking.delete(worker);
        request.resolve(undefined);
        continue;
      }
      const ready = [...this.#deps].find(
        ([project, deps]) => !this.#handedOut.has(project) && deps.every((dep) => this.#done.has(dep)),
      );
      if (!ready) break;
      this.#handedOut.add(ready[0]);
      this.#asking.delete(worker);
      request.resolve(ready[0]);
    }
  }

  #signal(): void {
    const event = this.#event;
    this.#event = deferred();
    event.resolve();
  }
}

/** What the tasks of the current schedule share: its clock and, for the dispatcher, its board. */
export const world: {
  clock: Clock | undefined;
  board: Board | undefined;
  yielding: boolean;
  /** How many times each restartable join went on past its ctx.build (at most once each). */
  resumed: Map<string, number>;
} = {
  clock: undefined,
  board: undefined,
  yielding: true,
  resumed: new Map(),
};

const sleep = (ms: number) =>
  new Promise<void>((resolve) => {
    if (!world.clock) throw new Error('no simulation clock set');
    world.clock.setTimeout(resolve, ms);
  });

/** A project with no dependencies of its own. */
export const leaf = defineTask<{ id: string }, string>({
  name: 'leaf',
  run: (input) => input.id,
});

/** Waits for its dependencies (its node is free meanwhile), then joins their results. */
export const join = defineTask<{ id: string; deps: string[] }, string>({
  name: 'join',
  async run(input, ctx) {
    const results = await ctx.build<string>(input.deps.map((dep) => ({ task: leaf, input: { id: dep } })));
    return `${input.id}(${results.join(',')})`;
  },
});

/**
 * A join the scheduler may restart: it asks for its dependencies (compute tasks of `ms` each)
 * and, past that wait, counts itself in `world.resumed`: a dropped run must never get there.
 */
export const restartJoin = defineTask<{ id: string; deps: string[]; ms: number }, string>({
  name: 'restartJoin',
  restartable: true,
  async run(input, ctx) {
    const results = await ctx.build<string>(
      input.deps.map((dep) => ({ task: compute, input: { id: dep, ms: input.ms }, cost: input.ms })),
    );
    world.resumed.set(input.id, (world.resumed.get(input.id) ?? 0) + 1);
    return `${input.id}(${results.join(',')})`;
  },
});

/** Waits on something outside the runtime (a timer), yielding its node around the wait. */
export const waiter = defineTask<{ id: string; ms: number }, string>({
  name: 'waiter',
  async run(input, ctx) {
    await ctx.yielding(() => sleep(input.ms));
    return input.id;
  },
});

/** Works for `ms` (on the simulation clock) holding its node: CPU-bound work, no yield. */
export const compute = defineTask<{ id: string; ms: number }, string>({
  name: 'compute',
  async run(input) {
    await sleep(input.ms);
    return input.id;
  },
});

/** One more run if its node is lost, 20 ms later (long enough to be cancelled in): enough for the one fault of a schedule. */
const once = { attempts: 1, backoffMs: 20 } as const;

/** `compute`, safe to run twice. */
export const retryCompute = defineTask<{ id: string; ms: number }, string>({
  name: 'retryCompute',
  retry: once,
  async run(input) {
    await sleep(input.ms);
    return input.id;
  },
});

/** `waiter`, safe to run twice: it may be lost while it has yielded its node. */
export const retryWaiter = defineTask<{ id: string; ms: number }, string>({
  name: 'retryWaiter',
  retry: once,
  async run(input, ctx) {
    await ctx.yielding(() => sleep(input.ms));
    return input.id;
  },
});

/** A join safe to run twice, whose dependencies (`retryCompute` of `ms` each) are too. */
export const retryJoin = defineTask<{ id: string; deps: string[]; ms: number }, string>({
  name: 'retryJoin',
  retry: once,
  async run(input, ctx) {
    const results = await ctx.build<string>(
      input.deps.map((dep) => ({ task: retryCompute, input: { id: dep, ms: input.ms } })),
    );
    return `${input.id}(${results.join(',')})`;
  },
});

/** The dispatcher of the dispatcher scenario: hands ready projects to workers that ask. */
export const dispatcher = defineTask<{ id: string }, number>({
  name: 'dispatcher',
  async run(_input, ctx) {
    const board = world.board!;
    for (;;) {
      board.assign();
      if (board.left === 0) {
        board.assign();
        return board.built;
      }
      await ctx.yielding(() => board.nextEvent());
    }
  },
});

/** A worker of the dispatcher scenario: asks for projects until told to stop. */
export const worker = defineTask<{ id: string }, number>({
  name: 'worker',
  async run(input, ctx) {
    const board = world.board!;
    let built = 0;
    for (;;) {
      // The seed's bug: waiting for the next project while holding the node.
      const project = world.yielding
        ? await ctx.yielding(() => board.ask(input.id))
        : await board.ask(input.id);
      if (project === undefined) return built;
      await ctx.build({ task: leaf, input: { id: project } });
      board.finish(project);
      built++;
    }
  },
});

/**
 * What each task above returns, evaluated directly from its input: the result oracle's reference
 * (`resultsMatchReference`). Undefined for tasks whose value depends on the schedule (a worker's
 * count of projects).
 */
export function referenceValue(spec: { task: string; input: unknown }): unknown {
  const input = spec.input as { id: string; deps?: string[] };
  switch (spec.task) {
    case leaf.id:
    case waiter.id:
    case compute.id:
    case retryCompute.id:
    case retryWaiter.id:
      return input.id;
    case join.id:
    case restartJoin.id:
    case retryJoin.id:
      return `${input.id}(${(input.deps ?? []).join(',')})`;
    case dispatcher.id:
      return world.board ? world.board.built + world.board.left : undefined;
    default:
      return undefined;
  }
}

/** A job that runs until cancelled or until its message's `ms` pass on the simulation clock. */
export const timedJob = defineJob<{ ms: number }>(
  (message, ctx) =>
    new Promise<void>((resolve, reject) => {
      ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
      sleep(message.ms).then(resolve, reject);
    }),
  { name: 'timedJob' },
);
