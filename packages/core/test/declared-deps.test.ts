import {
  createRuntime,
  DependencyFailedError,
  RequestCycleError,
  type RequestLike,
  type Runtime,
} from '@troupe/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const tasks = new URL('./fixtures/declared-tasks.mjs', import.meta.url).href;
const task = (name: string) => `${tasks}#${name}`;
type Shared = {
  built: Map<unknown, number>;
  events: string[];
  gates: Map<string, { open(): void }>;
  heard: Array<() => void>;
};
const shared = () => (globalThis as unknown as { __troupeDeclared: Shared }).__troupeDeclared;

/** A new shared state: nothing built, no events, no gates, nobody waiting. */
function fresh(): void {
  (globalThis as { __troupeDeclared?: Shared }).__troupeDeclared = {
    built: new Map(),
    events: [],
    gates: new Map(),
    heard: [],
  };
}

let runtime: Runtime | undefined;
beforeEach(() => {
  fresh();
});
afterEach(async () => {
  await runtime?.shutdown();
  runtime = undefined;
});

/** A seeded random DAG: node i may depend on any node after it (so the graph is acyclic). */
function randomGraph(size: number, seed: number): string[][] {
  let state = seed;
  const random = () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
  return Array.from({ length: size }, (_, i) => {
    const deps: string[] = [];
    for (let j = i + 1; j < size; j++) if (random() < 0.25) deps.push(`p${j}`);
    return deps;
  });
}

/** The requests for a graph, sharing one spec object per project, as a user's build would. */
function requestsFor(graph: string[][], extra: (id: string) => object = () => ({})): RequestLike[] {
  const specs = new Map<string, RequestLike & { deps: RequestLike[] }>();
  for (let i = 0; i < graph.length; i++)
    specs.set(`p${i}`, { task: task('project'), input: { id: `p${i}`, ...extra(`p${i}`) }, deps: [] });
  for (let i = 0; i < graph.length; i++)
    specs.get(`p${i}`)!.deps.push(...graph[i]!.map((id) => specs.get(id)!));
  return [...specs.values()];
}

/** What each project must return: the reference evaluation of the graph. */
function reference(graph: string[][]): string[] {
  const memo = new Map<number, string>();
  const value = (i: number): string => {
    let known = memo.get(i);
    if (known === undefined) {
      known = `p${i}(${graph[i]!.map((id) => value(Number(id.slice(1)))).join(',')})`;
      memo.set(i, known);
    }
    return known;
  };
  return graph.map((_, i) => value(i));
}

describe('declared dependencies', () => {
  it('builds a random graph to the reference values, each project once, none before its dependencies', async () => {
    for (const seed of [1, 2, 3]) {
      fresh();
      runtime = createRuntime({ nodes: { kind: 'inproc', max: 3 } });
      const graph = randomGraph(30, seed);
      const early: string[] = [];
      runtime.scheduler.on('transition', (request, _from, to) => {
        if (to !== 'executing') return;
        for (const dependency of request.declared ?? [])
          if (dependency.state !== 'completed') early.push(`${request.id} before ${dependency.id}`);
      });
      const values = await runtime.build(requestsFor(graph));
      expect(values).toEqual(reference(graph));
      expect(early).toEqual([]);
      expect([...shared().built.values()].every((count) => count === 1)).toBe(true);
      expect(shared().built.size).toBe(30);
      await runtime.shutdown();
      runtime = undefined;
    }
  });

  it('on thread nodes too, where every value crosses a real wire', async () => {
    runtime = createRuntime({ nodes: { kind: 'thread', max: 2 } });
    const graph = randomGraph(12, 7);
    expect(await runtime.build(requestsFor(graph))).toEqual(reference(graph));
  });

  it('a failed dependency fails what declared it, without running it, and leaves other branches be', async () => {
    runtime = createRuntime({ nodes: { kind: 'inproc', max: 2 } });
    const bad = { task: task('project'), input: { id: 'bad', fail: true } };
    const middle = { task: task('project'), input: { id: 'middle' }, deps: [bad] };
    const top = { task: task('project'), input: { id: 'top' }, deps: [middle] };
    const other = { task: task('project'), input: { id: 'other' } };
    const [topResult, otherResult] = await Promise.allSettled([runtime.build(top), runtime.build(other)]);
    expect(otherResult).toEqual({ status: 'fulfilled', value: 'other()' });
    expect(topResult.status).toBe('rejected');
    const error = (topResult as PromiseRejectedResult).reason;
    expect(error).toBeInstanceOf(DependencyFailedError);
    // From `top` down to the root cause: middle, then bad.
    expect((error as DependencyFailedError).chain).toHaveLength(2);
    expect((error as Error).message).toContain('bad broke');
    expect(shared().built.get('middle')).toBeUndefined();
    expect(shared().built.get('top')).toBeUndefined();
    // The failure is the answer: asking again does not rebuild `bad`.
    await expect(runtime.build(middle)).rejects.toBeInstanceOf(DependencyFailedError);
    expect(shared().built.get('bad')).toBe(1);
  });

  it('a cycle among declared dependencies fails its members with RequestCycleError', async () => {
    runtime = createRuntime({ nodes: { kind: 'inproc', max: 2 } });
    const a: RequestLike & { deps: RequestLike[] } = { task: task('project'), input: { id: 'a' }, deps: [] };
    const b = { task: task('project'), input: { id: 'b' }, deps: [a] };
    a.deps.push(b);
    const above = { task: task('project'), input: { id: 'above' }, deps: [a] };
    const results = await Promise.allSettled([runtime.build(above), runtime.build(b)]);
    expect((results[0] as PromiseRejectedResult).reason).toBeInstanceOf(DependencyFailedError);
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(RequestCycleError);
    expect(shared().built.size).toBe(0);
    // The runtime goes on: an unrelated graph builds.
    expect(await runtime.build({ task: task('project'), input: { id: 'after' } })).toBe('after()');
  });

  it('a cycle through a declared and a discovered edge fails with RequestCycleError', async () => {
    runtime = createRuntime({ nodes: { kind: 'inproc', max: 2 } });
    const request = {
      task: task('project'),
      input: { id: 'x' },
      deps: [{ task: task('askBack'), input: 'x' }],
    };
    await expect(runtime.build(request)).rejects.toBeInstanceOf(RequestCycleError);
    expect(shared().built.get('x')).toBeUndefined();
  });

  it('a task can declare its dependencies from its input (defineTask deps)', async () => {
    runtime = createRuntime({ nodes: { kind: 'inproc', max: 2 } });
    const { countdown } = (await import(tasks)) as { countdown: import('@troupe/core').Task<number, number> };
    expect(await runtime.build({ task: countdown, input: 40 })).toBe(40);
    expect(shared().built.size).toBe(41);
    expect([...shared().built.values()].every((count) => count === 1)).toBe(true);
  });

  it('ctx.build can ask for requests that declare dependencies; a shared one is built once', async () => {
    runtime = createRuntime({ nodes: { kind: 'thread', max: 2 } });
    expect(await runtime.build({ task: task('discoverer'), input: 'd.' })).toBe(
      'd.top(d.a(d.leaf()),d.b(d.leaf()))|d.a(d.leaf())',
    );
  });

  it('aborting a build cancels its pending graph: nothing that waited on the running one starts', async () => {
    runtime = createRuntime({ nodes: { kind: 'inproc', max: 2 } });
    const graph = [['p1'], ['p2'], []];
    const requests = requestsFor(graph, (id) => (id === 'p2' ? { gate: 'p2' } : {}));
    const controller = new AbortController();
    const build = runtime.build(requests[0]!, { signal: controller.signal });
    await untilEvent(() => shared().events.includes('start p2'));
    const states = () => runtime!.scheduler.unfinished;
    expect(states()).toBe(3);
    controller.abort(new Error('not wanted'));
    await expect(build).rejects.toThrow('not wanted');
    expect(states()).toBe(0);
    shared().gates.get('p2')!.open();
    // p2 was running: it ends on its node, and neither p1 nor p0 ever starts.
    expect(await runtime.build({ task: task('project'), input: { id: 'after' } })).toBe('after()');
    expect(shared().events).toEqual(['start p2', 'start after']);
  });
});

describe('restartable requests', () => {
  it('a continuation whose node is busy runs again on a free node; its first run never goes on', async () => {
    runtime = createRuntime({ nodes: { kind: 'inproc', max: 2 } });
    const restarted: string[] = [];
    runtime.scheduler.on('restarted', (request, from, to) =>
      restarted.push(`${request.spec.task.split('#')[1]} ${from !== to}`),
    );
    const open = (name: string) => {
      const deadline = shared().gates.get(name);
      if (!deadline) throw new Error(`no gate ${name}`);
      deadline.open();
    };
    const z = runtime.build({ task: task('project'), input: { id: 'Z', gate: 'Z' }, cost: 1 });
    const r = runtime.build({ task: task('rebuild'), input: 'r', cost: 1 });
    await untilEvent(
      () => shared().events.includes('start Z') && shared().events.includes('rebuild r start'),
    );
    // Queued while r runs: r's node takes it when r blocks (its priority is the highest waiting).
    const long = runtime.build({ task: task('project'), input: { id: 'L', gate: 'L' }, cost: 100 });
    open('r.go');
    await untilEvent(() => shared().events.includes('start L'));
    // Z's node frees, runs r.dep; r is ready while its node holds L: it runs again on Z's node.
    open('Z');
    expect(await r).toBe('rebuild(r.dep())');
    expect(shared().events.filter((e) => e === 'rebuild r start')).toHaveLength(2);
    expect(shared().events.filter((e) => e === 'rebuild r after')).toHaveLength(1);
    expect(shared().built.get('r.dep')).toBe(1);
    expect(restarted).toEqual(['rebuild true']);
    expect(runtime.scheduler.restarts).toBe(1);
    open('L');
    expect(await Promise.all([z, long])).toEqual(['Z()', 'L()']);
  });
});

/** Waits until `done` holds, looking again each time a fixture task records an event. */
async function untilEvent(done: () => boolean): Promise<void> {
  while (!done()) await new Promise<void>((wake) => shared().heard.push(wake));
}
