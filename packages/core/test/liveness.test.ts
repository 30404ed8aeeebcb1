// Liveness: a node that holds requests is pinged, and one that stops answering is declared lost,
// killed, and its requests failed with NodeUnresponsiveError. In-process nodes on a virtual clock
// test the ping logic step by step; thread and process nodes test it against a real stop.
import {
  createRuntime,
  DependencyFailedError,
  InProcessNodeProvider,
  InvalidOptionError,
  NodeConnectionFailedError,
  NodeContext,
  NodeUnresponsiveError,
  type Runtime,
  TaskFailedError,
  type TraceFileContents,
  TraceRecorder,
} from '@troupe/core';
import { VirtualClock } from '@troupe/testing';
import { MemoryTransport } from '@troupe/transport';
import type { Delivery } from '@troupe/transport/internal';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  cleanupSandbox,
  createSandbox,
  isRunning,
  processState,
  type Sandbox,
  waitFor,
  waitUntilGone,
} from './support/processes.js';
import { timelineProblems, tracks } from './support/timeline.js';

const tasks = new URL('./fixtures/liveness-tasks.mjs', import.meta.url).href;
const task = (name: string) => `${tasks}#${name}`;
const releases = () =>
  (globalThis as { __troupeLiveness?: Map<string, () => void> }).__troupeLiveness ?? new Map();

let runtime: Runtime | undefined;
afterEach(async () => {
  for (const release of releases().values()) release();
  releases().clear();
  await runtime?.shutdown();
  runtime = undefined;
});

/** Lets deliveries and promise continuations run (no virtual time passes). */
async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * A memory network that can stop a node as SIGSTOP would: nothing reaches it and nothing it
 * writes leaves it. Counts what is sent to each address.
 */
function stoppableNetwork() {
  const stopped = new Set<string>();
  const sentTo = new Map<string, number>();
  return {
    stopped,
    sentTo,
    network: {
      submit(delivery: Delivery) {
        sentTo.set(delivery.to, (sentTo.get(delivery.to) ?? 0) + 1);
        if (stopped.has(delivery.to) || stopped.has(delivery.from)) return;
        queueMicrotask(() => delivery.deliver());
      },
    },
  };
}

function inprocWorld(
  options: { pingIntervalMs?: number; pingTimeoutMs?: number } = {},
  trace?: TraceRecorder,
) {
  const clock = new VirtualClock();
  const world = stoppableNetwork();
  const provider = new InProcessNodeProvider({
    transport: new MemoryTransport({ network: world.network }),
    clock,
  });
  runtime = createRuntime({ nodes: { provider, max: 2, ...options }, clock, ...(trace && { trace }) });
  const started = (id: string) =>
    new Promise<NodeContext>((resolve) => {
      runtime!.on('request', (request, _from, to) => {
        if (to === 'executing' && (request.spec.input as unknown) === id)
          resolve(runtime!.nodes.find((node) => node.id === request.node)!);
      });
    });
  return { clock, world, provider, runtime, started };
}

/** Moves the virtual clock in steps, letting deliveries run between them, as time passes for real. */
async function pass(clock: VirtualClock, ms: number, step = 100): Promise<void> {
  for (let passed = 0; passed < ms; passed += step) {
    clock.advance(Math.min(step, ms - passed));
    await settle(4);
  }
}

describe('liveness on a virtual clock (in-process nodes)', () => {
  it('a stopped node holding a request is declared lost at the bound, killed, and only its request fails', async () => {
    const recorder = new TraceRecorder();
    const { clock, world, provider, runtime, started } = inprocWorld(
      { pingIntervalMs: 1_000, pingTimeoutMs: 10_000 },
      recorder,
    );
    const lost: Array<{ node: string; error: Error }> = [];
    runtime.on('node.lost', (node, error) => lost.push({ node: node.id, error }));
    const onVictim = started('victim');
    const victimBuild = runtime.build({ task: task('held'), input: 'victim' }).then(
      () => undefined,
      (error: unknown) => error,
    );
    const node = await onVictim;
    const endpoint = provider.endpointOf(node)!;
    world.stopped.add(endpoint.address);

    const values = await runtime.build([2, 3, 4].map((n) => ({ task: task('double'), input: n })));
    expect(values).toEqual([4, 6, 8]);

    await pass(clock, 9_900);
    expect(node.state).toBe('active');
    expect(node.liveness).toBe('watching');
    expect(lost).toEqual([]);

    await pass(clock, 100);
    const error = (await victimBuild) as NodeUnresponsiveError;
    expect(error).toBeInstanceOf(NodeUnresponsiveError);
    expect(error.code).toBe('TROUPE_NODE_UNRESPONSIVE');
    expect(error.nodeId).toBe(node.id);
    expect(error.silentMs).toBe(10_000);
    expect(error.pid).toBe(node.pid);
    expect(error.message).toContain(`node ${node.id} (pid ${node.pid}) did not answer pings for 10000 ms`);
    // Its request failed at the verdict; its link is closed in order, not cut, so what it wrote
    // before it ended still arrives: it fails once the link's close timeout (2 s) gives up on it.
    expect(node.state).toBe('lost');
    expect(endpoint.killed).toBe(true);
    expect(lost).toEqual([{ node: node.id, error }]);
    expect(runtime.nodes.map((n) => n.id)).not.toContain(node.id);
    await pass(clock, 2_000);
    expect(node.state).toBe('failed');
    // The rest of the pool carries on.
    expect(await runtime.build({ task: task('double'), input: 21 })).toBe(42);
    // The timeline: the lost node went from busy to lost to failed at the bound, and said so.
    await runtime.shutdown();
    const trace = JSON.parse(JSON.stringify(recorder)) as TraceFileContents;
    expect(timelineProblems(trace)).toEqual([]);
    const all = [...tracks(trace).values()];
    const connection = all.find((t) => t.process === node.id && t.name === 'connection')!;
    expect(connection.spans.map((span) => span.name).slice(-2)).toEqual(['busy', 'lost']);
    expect(connection.instants.at(-1)).toMatchObject({ name: 'failed', ts: 12_000_000 });
    const scheduler = all.find((t) => t.name === 'scheduler')!;
    expect(scheduler.instants).toEqual([
      expect.objectContaining({
        name: 'node lost',
        args: { node: node.id, error: error.message.split('\n')[0] },
      }),
    ]);
  });

  it('a node that answers keeps a request far longer than the bound, and once it holds nothing it is not pinged', async () => {
    const { clock, world, provider, runtime, started } = inprocWorld({
      pingIntervalMs: 1_000,
      pingTimeoutMs: 3_000,
    });
    const onLong = started('long');
    const long = runtime.build({ task: task('held'), input: 'long' });
    const node = await onLong;
    const address = provider.endpointOf(node)!.address;
    const before = world.sentTo.get(address) ?? 0;

    await pass(clock, 30_000);
    expect(node.liveness).toBe('watching');
    // A ping a second, each answered.
    expect((world.sentTo.get(address) ?? 0) - before).toBeGreaterThanOrEqual(30);
    releases().get('long')!();
    expect(await long).toBe('long released');

    // The next tick finds nothing held: no more pings.
    await pass(clock, 1_000);
    expect(node.liveness).toBe('quiet');
    const quietFrom = world.sentTo.get(address) ?? 0;
    await pass(clock, 60_000, 1_000);
    expect(world.sentTo.get(address) ?? 0).toBe(quietFrom);
    expect(node.state).toBe('active');
  });

  it('refuses ping options that are not positive numbers, naming the option', () => {
    expect(() => createRuntime({ nodes: { pingTimeoutMs: 0 } })).toThrow(/nodes\.pingTimeoutMs .*received 0/);
    expect(() => createRuntime({ nodes: { pingIntervalMs: Number.POSITIVE_INFINITY } })).toThrow(
      /nodes\.pingIntervalMs/,
    );
  });

  it("refuses a node's ping times that no timer could run, naming the option and the node", () => {
    const node = (ping: Partial<NodeContext['pingTimes']> = {}) =>
      new NodeContext({
        id: 'node-ping',
        kind: 'inproc',
        ping,
        connect: () => Promise.reject(new Error('never started')),
      });
    const refusal = (make: () => unknown) => {
      try {
        make();
      } catch (error) {
        return error;
      }
      throw new Error('expected a refusal');
    };
    const atStart = refusal(() => node({ timeoutMs: 0 }));
    expect(atStart).toBeInstanceOf(InvalidOptionError);
    expect(atStart).toMatchObject({ option: 'ping.timeoutMs', received: 0 });
    expect((atStart as Error).message).toBe(
      'node node-ping: option ping.timeoutMs must be a positive number of milliseconds; received 0',
    );
    const held = node();
    const later = refusal(() => held.setPingTimes({ intervalMs: Number.POSITIVE_INFINITY }));
    expect(later).toBeInstanceOf(InvalidOptionError);
    expect(later).toMatchObject({ option: 'ping.intervalMs', received: Number.POSITIVE_INFINITY });
    expect((later as Error).message).toBe(
      'node node-ping: option ping.intervalMs must be a finite number of milliseconds; received Infinity',
    );
    // The times in force are unchanged.
    expect(held.pingTimes).toEqual({ intervalMs: 1_000, timeoutMs: 10_000 });
  });
});

describe('liveness on real nodes', () => {
  let sandbox: Sandbox;
  beforeEach(async () => {
    sandbox = await createSandbox();
  });
  afterEach(async () => {
    await runtime?.shutdown();
    runtime = undefined;
    await cleanupSandbox(sandbox);
  });

  it('a process node SIGSTOPped while it holds a request is declared lost and killed; the other node builds the rest', async () => {
    runtime = createRuntime({
      nodes: {
        kind: 'process',
        max: 2,
        process: { transport: sandbox.transport, launcher: sandbox.launcher },
        pingIntervalMs: 100,
        pingTimeoutMs: 1_000,
      },
    });
    const held = new Promise<NodeContext>((resolve) => {
      runtime!.on('log', (entry) => {
        if (entry.message === 'victim held') resolve(runtime!.nodes.find((node) => node.id === entry.node)!);
      });
    });
    const victimBuild = runtime.build({ task: task('held'), input: 'victim' }).then(
      () => undefined,
      (error: unknown) => error,
    );
    const victim = await held;
    const pid = victim.pid!;
    sandbox.pids.add(pid);
    process.kill(pid, 'SIGSTOP');
    if (processState(pid) !== undefined) expect(await waitFor(() => processState(pid) === 'T')).toBe(true);

    const values = await runtime.build([5, 6, 7].map((n) => ({ task: task('double'), input: n })));
    expect(values).toEqual([10, 12, 14]);

    const error = (await victimBuild) as NodeUnresponsiveError;
    expect(error).toBeInstanceOf(NodeUnresponsiveError);
    expect(error.nodeId).toBe(victim.id);
    expect(error.pid).toBe(pid);
    expect(error.silentMs).toBeGreaterThanOrEqual(1_000);
    expect(error.message).toContain(`node ${victim.id} (pid ${pid}) did not answer pings`);
    expect(await waitUntilGone(pid)).toBe(true);
    expect(isRunning(pid)).toBe(false);
    expect(await waitFor(() => victim.state === 'failed')).toBe(true);
    expect(runtime.nodes.map((node) => node.id)).not.toContain(victim.id);
    expect(await runtime.build({ task: task('double'), input: 50 })).toBe(100);
  });

  it('a host whose own event loop is held up past the bound does not declare its answering nodes lost', async () => {
    runtime = createRuntime({ nodes: { kind: 'thread', max: 1, pingIntervalMs: 50, pingTimeoutMs: 500 } });
    const napping = new Promise<void>((resolve) =>
      runtime!.on('log', (entry) => entry.message === 'napping' && resolve()),
    );
    const build = runtime.build({ task: task('nap'), input: 1_500 });
    await napping;
    // The host is busy (a synchronous parse, an execSync): the node's Pongs wait unread meanwhile.
    const end = performance.now() + 1_000;
    while (performance.now() < end) {
      // Synchronous on purpose.
    }
    expect(await build).toBe(1_500);
    expect(runtime.nodes).toHaveLength(1);
  });

  it('a thread node stuck in a synchronous loop longer than the bound is declared lost and its thread terminated', async () => {
    runtime = createRuntime({ nodes: { kind: 'thread', max: 1, pingIntervalMs: 50, pingTimeoutMs: 500 } });
    // Long enough that only the host can end it: a node busy synchronously does not answer.
    const error = await runtime.build({ task: task('spin'), input: 120_000 }).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(NodeUnresponsiveError);
    const lost = error as NodeUnresponsiveError;
    expect(lost.silentMs).toBeGreaterThanOrEqual(500);
    expect(runtime.nodes.map((node) => node.id)).not.toContain(lost.nodeId);
    // A new thread takes its place; a short synchronous stretch is answered in time.
    expect(await runtime.build({ task: task('spin'), input: 20 })).toBe(20);
  });
});

describe('a request failed by a lost node', () => {
  it('fails its dependents, including one that asks for it later: it is not built again', async () => {
    const provider = new InProcessNodeProvider();
    runtime = createRuntime({ nodes: { provider, max: 2 } });
    const heldLogs: string[] = [];
    runtime.on('log', (entry) => heldLogs.push(entry.message));
    const executing = new Promise<NodeContext>((resolve) => {
      runtime!.on('log', (entry) => {
        if (entry.message === 'a held') resolve(runtime!.nodes.find((node) => node.id === entry.node)!);
      });
    });
    const first = runtime.build({ task: task('held'), input: 'a' }).then(
      () => undefined,
      (error: unknown) => error,
    );
    const node = await executing;
    await provider.endpointOf(node)!.kill();
    const lostError = await first;
    expect(lostError).toBeInstanceOf(NodeConnectionFailedError);

    // Asked again through a dependent's ctx.build: the dependent fails with the node's error as
    // its cause, and 'a' does not start again (it would log 'a held' a second time).
    const rebuilt = new Promise<string>((resolve) => {
      runtime!.on('log', (entry) => {
        if (entry.message === 'a held' && heldLogs.filter((m) => m === 'a held').length > 1)
          resolve('a was built again');
      });
    });
    const dependent = runtime.build({ task: task('needs'), input: ['a'] }).then(
      () => 'the dependent completed',
      (error: unknown) => error,
    );
    const outcome = await Promise.race([dependent, rebuilt]);
    expect(outcome).toBeInstanceOf(TaskFailedError);
    expect((outcome as TaskFailedError).remoteCode).toBe(DependencyFailedError.code);
    expect((outcome as Error).message).toContain((lostError as Error).message.split('\n')[0]);
    expect(heldLogs.filter((m) => m === 'a held')).toHaveLength(1);
    // And asked again directly: the same failure, not a new build.
    await expect(runtime.build({ task: task('held'), input: 'a' })).rejects.toBe(lostError);
  });
});
