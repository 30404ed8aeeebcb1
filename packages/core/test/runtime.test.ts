import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createRuntime,
  DependencyFailedError,
  type Runtime,
  StallError,
  TaskFailedError,
} from '@troupe/core';
import { isPidAlive } from '@troupe/core/internal';
import { PipeTransport } from '@troupe/transport';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const tasks = new URL('./fixtures/graph-tasks.mjs', import.meta.url).href;
const task = (name: string) => `${tasks}#${name}`;
type Shared = { built: Map<unknown, number>; gates: Map<string, unknown>; events: string[] };
const shared = () => (globalThis as unknown as { __troupeTest: Shared }).__troupeTest;

let runtime: Runtime | undefined;
beforeEach(() => {
  (globalThis as { __troupeTest?: Shared }).__troupeTest = { built: new Map(), gates: new Map(), events: [] };
});
afterEach(async () => {
  await runtime?.shutdown();
  runtime = undefined;
});

describe('runtime', () => {
  it('builds a request that waits on others, each identical request once', async () => {
    runtime = createRuntime({ nodes: { kind: 'inproc', max: 2 } });
    const total = await runtime.build({ task: task('outer'), input: [1, 2, 3, 2, 1] });
    expect(total).toBe(18);
    expect(shared().built.get(1)).toBe(1);
    expect(shared().built.get(2)).toBe(1);
    const again = await runtime.build([
      { task: task('leaf'), input: 3 },
      { task: task('leaf'), input: 4 },
    ]);
    expect(again).toEqual([6, 8]);
    expect(shared().built.get(3)).toBe(1);
  });

  it('ctx.build hands back the results of requests that had all finished before it asked', async () => {
    runtime = createRuntime({ nodes: { kind: 'inproc', max: 2 } });
    expect(await runtime.build({ task: task('leaf'), input: 3 })).toBe(6);
    // Every dependency of `sum` is cached: it used to receive [] and return 0.
    expect(await runtime.build({ task: task('sum'), input: [3, 3] })).toBe(12);
    expect(await runtime.build({ task: task('outer'), input: [3, 3] })).toBe(12);
    expect(shared().built.get(3)).toBe(1);
  });

  it('aborting one build ends it at once and leaves a request another build shares running', async () => {
    runtime = createRuntime({ nodes: { kind: 'inproc', max: 2 } });
    const controller = new AbortController();
    const aborted = runtime.build({ task: task('patient'), input: 'shared' }, { signal: controller.signal });
    const kept = runtime.build({ task: task('patient'), input: 'shared' });
    const reason = new Error('no longer wanted');
    controller.abort(reason);
    await expect(aborted).rejects.toBe(reason);
    await runtime.build({ task: task('opener'), input: 'shared' });
    expect(await kept).toBe('shared');
    expect(shared().events).toEqual(['shared waiting', 'open shared', 'shared resumed']);
  });

  it('with prefetch, staged requests, blocked ones and yielded ones all finish on one node', async () => {
    runtime = createRuntime({ nodes: { kind: 'inproc', max: 1, prefetch: 4 } });
    const patient = runtime.build({ task: task('patient'), input: 'q' });
    const builds = runtime.build([
      ...[1, 2, 3, 4, 5, 6].map((n) => ({ task: task('leaf'), input: n })),
      { task: task('outer'), input: [7, 8] },
      { task: task('opener'), input: 'q' },
    ]);
    expect(await builds).toEqual([2, 4, 6, 8, 10, 12, 30, 'opened q']);
    expect(await patient).toBe('q');
    expect(shared().events).toEqual(['q waiting', 'open q', 'q resumed']);
  });

  it('with prefetch on thread nodes, a thousand requests and their dependencies build right', async () => {
    runtime = createRuntime({ nodes: { kind: 'thread', max: 2, prefetch: 16 } });
    const leaves = Array.from({ length: 1_000 }, (_, n) => ({ task: task('leaf'), input: n }));
    const sums = Array.from({ length: 20 }, (_, n) => ({ task: task('sum'), input: [n, n + 1, n + 2] }));
    const results = await runtime.build<number>([...leaves, ...sums]);
    expect(results.slice(0, 1_000)).toEqual(leaves.map((_, n) => n * 2));
    expect(results.slice(1_000)).toEqual(sums.map((_, n) => 2 * (3 * n + 3)));
  });

  it('a blocked request frees its node: a chain of waits runs on one node', async () => {
    runtime = createRuntime({ nodes: { kind: 'inproc', max: 1 } });
    expect(await runtime.build({ task: task('outer'), input: [5, 6] })).toBe(22);
    expect(runtime.nodes).toHaveLength(1);
  });

  it('a yielded request lets another run on its node, then reacquires it', async () => {
    runtime = createRuntime({ nodes: { kind: 'inproc', max: 1 } });
    const patient = runtime.build({ task: task('patient'), input: 'p' });
    await runtime.build({ task: task('opener'), input: 'p' });
    expect(await patient).toBe('p');
    expect(shared().events).toEqual(['p waiting', 'open p', 'p resumed']);
  });

  it('without yielding, a wait that needs a node reports a stall and then fails naming the holder', async () => {
    runtime = createRuntime({ nodes: { kind: 'inproc', max: 1 }, stallTimeoutMs: 50, stallErrorMs: 100 });
    const stalls: number[] = [];
    runtime.on('stall', (report) => stalls.push(report.holders.length));
    const stubborn = runtime.build({ task: task('stubborn'), input: 's' });
    const opener = runtime.build({ task: task('opener'), input: 's' });
    const [a, b] = await Promise.allSettled([stubborn, opener]);
    expect(stalls).toEqual([1]);
    expect(a.status).toBe('rejected');
    expect(b.status).toBe('rejected');
    const error = (a as PromiseRejectedResult).reason as StallError;
    expect(error).toBeInstanceOf(StallError);
    expect(error.message).toContain('stubborn');
    expect(error.message).toMatch(/yield/);
  });

  it('a failed dependency fails its dependents with the chain of causes', async () => {
    runtime = createRuntime({ nodes: { kind: 'inproc', max: 2 } });
    const error = await runtime.build({ task: task('outer'), input: [1, 'bad'] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskFailedError);
    expect((error as Error).message).toContain('leaf bad broke');
    expect((error as { chain?: string[] }).chain?.length).toBe(2);
    const direct = await runtime.build({ task: task('sum'), input: ['bad'] }).catch((e: unknown) => e);
    expect((direct as Error).message).toMatch(/DependencyFailed|failed because/);
    expect(DependencyFailedError.code).toBe('TROUPE_DEPENDENCY_FAILED');
  });

  it('reacquire without yield is a clear error', async () => {
    runtime = createRuntime({ nodes: { kind: 'inproc', max: 1 } });
    await expect(runtime.build({ task: task('misuse'), input: null })).rejects.toThrow(
      /reacquire\(\) without ctx.yield\(\)/,
    );
  });

  it('aborting a build cancels the running task on its node', async () => {
    runtime = createRuntime({ nodes: { kind: 'inproc', max: 1 } });
    const controller = new AbortController();
    const pending = runtime.build({ task: task('longRunning'), input: null }, { signal: controller.signal });
    while (!shared().events.includes('long started')) await new Promise((resolve) => setImmediate(resolve));
    controller.abort(new Error('user gave up'));
    await expect(pending).rejects.toThrow('user gave up');
    // On the node, the task's signal says why, as a RequestCancelledError (a plain Error before).
    const aborted = 'long aborted: RequestCancelledError: user gave up';
    while (!shared().events.includes(aborted)) await new Promise((resolve) => setImmediate(resolve));
  });

  it("a task may take its context's methods apart: const { log, build } = ctx", async () => {
    runtime = createRuntime({ nodes: { kind: 'inproc', max: 2 } });
    const logs: string[] = [];
    runtime.on('log', (entry) => logs.push(entry.message));
    const fixtures = new URL('./fixtures/inproc-tasks.mjs', import.meta.url).href;
    expect(await runtime.build({ task: `${fixtures}#destructured`, input: 'x' })).toBe('x');
    expect(logs.some((line) => /^destructured req-/.test(line))).toBe(true);
  });

  it('grows the pool on demand up to max', async () => {
    runtime = createRuntime({ nodes: { kind: 'inproc', max: 3 } });
    await runtime.build(Array.from({ length: 10 }, (_, i) => ({ task: task('leaf'), input: i })));
    expect(runtime.nodes.length).toBeGreaterThan(0);
    expect(runtime.nodes.length).toBeLessThanOrEqual(3);
  });
});

describe('runtime on process nodes', () => {
  let directory: string;
  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'troupe-runtime-'));
  });
  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('runs dependent requests across processes, and leaves no process behind', async () => {
    runtime = createRuntime({
      nodes: { kind: 'process', max: 2, process: { transport: new PipeTransport({ directory }) } },
    });
    expect(await runtime.build({ task: task('outer'), input: [1, 2, 3] })).toBe(12);
    const pids = (await runtime.build([
      { task: task('whereAmI'), input: 1 },
      { task: task('whereAmI'), input: 2 },
    ])) as number[];
    for (const pid of pids) expect(pid).not.toBe(process.pid);
    await runtime.shutdown();
    for (const pid of pids) expect(isPidAlive(pid)).toBe(false);
    // A node still being launched when shutdown began is waited for and shut down too: nothing of
    // it (socket, output file) may remain.
    expect(await readdir(directory)).toEqual([]);
  });
});
