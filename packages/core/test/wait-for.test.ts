// The wait-for analysis: what a stalled run's error says waits for what, and the cycle it names.
import { createRuntime, type Runtime, StallError } from '@troupe/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Pools } from '../src/scheduler/pools.js';
import { createRequest } from '../src/scheduler/request.js';
import { waitFor } from '../src/scheduler/wait-for.js';

const tasks = new URL('./fixtures/graph-tasks.mjs', import.meta.url).href;
const task = (name: string) => `${tasks}#${name}`;
type Shared = { built: Map<unknown, number>; gates: Map<string, unknown>; events: string[] };

let runtime: Runtime | undefined;
beforeEach(() => {
  (globalThis as { __troupeTest?: Shared }).__troupeTest = { built: new Map(), gates: new Map(), events: [] };
});
afterEach(async () => {
  await runtime?.shutdown();
  runtime = undefined;
});

describe('wait-for analysis', () => {
  it('a stall reached through ctx.build names every request and node on the way to the holder', async () => {
    runtime = createRuntime({ nodes: { kind: 'inproc', max: 1 }, stallTimeoutMs: 50, stallErrorMs: 100 });
    const ids = new Map<string, string>();
    runtime.on('request', (request) => ids.set(request.spec.task.slice(tasks.length + 1), request.id));
    const reports: string[][] = [];
    runtime.on('stall', (report) => reports.push([...report.waitFor.waits]));
    // relay asks for stubborn with ctx.build (freeing the node); stubborn takes the node and waits,
    // without yielding, for the opener, which can only wait for that node.
    const relayed = runtime.build({ task: task('relay'), input: { task: task('stubborn'), input: 's' } });
    while (!ids.has('stubborn')) await new Promise((resolve) => setImmediate(resolve));
    const opener = runtime.build({ task: task('opener'), input: 's' });
    const [a, b] = await Promise.allSettled([relayed, opener]);
    const error = (a as PromiseRejectedResult).reason as StallError;
    expect(error).toBeInstanceOf(StallError);
    expect((b as PromiseRejectedResult).reason).toBe(error);
    const node = runtime.nodes[0]!.id;
    const [relay, stubborn, open] = ['relay', 'stubborn', 'opener'].map(
      (name) => `${ids.get(name)} (${name})`,
    );
    const waits = [
      `${relay} (blocked) waits on ${stubborn}`,
      `${stubborn} holds ${node} and neither finished nor yielded: it waits on something outside the runtime`,
      `${open} waits for a node of pool default`,
      `pool default has every node held (${node})`,
      `${node} is held by ${stubborn}`,
    ];
    expect(error.waitFor?.cycle).toBeUndefined();
    expect(error.waitFor?.waits).toEqual(waits);
    expect(reports).toEqual([waits]);
    for (const line of waits) expect(error.message).toContain(line);
  });

  it('names the cycle when a continuation is the active request of the node it waits for', () => {
    const pools = new Pools(undefined, (a, b) => a.seq - b.seq);
    pools.addNode('node-1', 'default');
    pools.addNode('node-2', 'default');
    const [stuck, parent, newcomer] = ['stuck', 'parent', 'newcomer'].map((name, seq) =>
      createRequest(`r${seq}`, name, { task: name, input: null }, seq),
    );
    // A bookkeeping bug: stuck reacquires node-1 while it is recorded as active there.
    stuck!.state = 'reacquiring';
    stuck!.node = 'node-1';
    pools.nodes.get('node-1')!.active = stuck;
    parent!.state = 'blocked';
    parent!.waitingOn = new Set([stuck!]);
    stuck!.waiters = new Set([parent!]);
    pools.get('default').waiting.push(newcomer!);
    pools.nodes.get('node-2')!.active = newcomer;
    newcomer!.state = 'executing';
    newcomer!.node = 'node-2';
    const graph = waitFor([stuck!, parent!, newcomer!], pools);
    expect(graph.cycle).toEqual(['r0 (stuck)', 'node-1', 'r0 (stuck)']);
    expect(graph.waits).toEqual([
      'r1 (parent) (blocked) waits on r0 (stuck)',
      'r0 (stuck) (reacquiring) waits for its node node-1',
      'node-1 is held by r0 (stuck)',
      'r2 (newcomer) holds node-2 and neither finished nor yielded: it waits on something outside the runtime',
    ]);
  });

  it('says when a node is free yet the continuation waiting for it was never started (a lost wakeup)', () => {
    const pools = new Pools(undefined, (a, b) => a.seq - b.seq);
    pools.addNode('node-1', 'default');
    const lost = createRequest('r0', 'lost', { task: 'lost', input: null }, 0);
    lost.state = 'reacquiring';
    lost.node = 'node-1';
    const graph = waitFor([lost], pools);
    expect(graph.cycle).toBeUndefined();
    expect(graph.waits).toEqual([
      'r0 (lost) (reacquiring) waits for its node node-1',
      'node-1 is free, yet nothing was started there',
    ]);
  });
});
