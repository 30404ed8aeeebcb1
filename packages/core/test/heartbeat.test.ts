// Heartbeats both ways and incarnation fencing, on the virtual clock: a node drops a host it has
// not heard from, a host loses a silent node even when idle, and a result that a lost incarnation
// sends after a partition heals is dropped, not applied.
import { createRuntime, type NodeContext, NodeUnresponsiveError, type Runtime } from '@troupe/core';
import { createIdSource, NodeEndpoint, PacketType } from '@troupe/core/internal';
import { VirtualClock } from '@troupe/testing';
import { StaticEndpointProvider } from '@troupe/testing/internal';
import { type Link, MemoryTransport } from '@troupe/transport';
import type { Delivery } from '@troupe/transport/internal';
import { afterEach, describe, expect, it } from 'vitest';

const tasks = new URL('./fixtures/liveness-tasks.mjs', import.meta.url).href;
const task = (name: string) => `${tasks}#${name}`;
const releases = () =>
  (globalThis as { __troupeLiveness?: Map<string, () => void> }).__troupeLiveness ?? new Map();

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const release of releases().values()) release();
  releases().clear();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Lets deliveries and promise continuations run (no virtual time passes). */
async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Moves the virtual clock in steps, letting deliveries run between them. */
async function pass(clock: VirtualClock, ms: number, step = 50): Promise<void> {
  for (let passed = 0; passed < ms; passed += step) {
    clock.advance(Math.min(step, ms - passed));
    await settle(4);
  }
}

/**
 * Moves the virtual clock 10 ms at a time until `done` holds (a node's first import of the task
 * module is real I/O), giving up past `maxMs`.
 */
async function passUntil(clock: VirtualClock, done: () => boolean, maxMs = 2_000): Promise<void> {
  for (let passed = 0; !done(); passed += 10) {
    if (passed > maxMs) throw new Error(`not done within ${maxMs} ms of virtual time`);
    clock.advance(10);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/**
 * A memory network that can partition an address: what it writes and what is written to it is
 * held, not lost, until `heal` delivers it in order (a network that heals, not a node that dies).
 */
function partitionableNetwork() {
  const cut = new Set<string>();
  let held: Delivery[] = [];
  return {
    cut,
    network: {
      submit(delivery: Delivery) {
        if (cut.has(delivery.to) || cut.has(delivery.from)) held.push(delivery);
        else queueMicrotask(() => delivery.deliver());
      },
    },
    heal(address: string) {
      cut.delete(address);
      const waiting = held;
      held = [];
      for (const delivery of waiting)
        if (cut.has(delivery.to) || cut.has(delivery.from)) held.push(delivery);
        else queueMicrotask(() => delivery.deliver());
    },
  };
}

async function startEndpoint(
  transport: MemoryTransport,
  clock: VirtualClock,
  address: string,
  reuse = false,
) {
  const endpoint = await NodeEndpoint.start({
    transport,
    clock,
    // A static endpoint (`troupe node --reuse`) says so in its handshake, as its hosts do.
    listen: { address, clock, handshake: { nodeReuse: reuse } },
    idleTimeoutMs: 3_600_000,
    identity: { pid: 1000 + address.length, threadId: 0 },
  });
  const logs: string[] = [];
  endpoint.on('log', (line) => logs.push(line));
  cleanups.push(() => endpoint.exit());
  return { endpoint, logs };
}

/** A raw host link that presents itself with heartbeat times, and collects what the node sends. */
async function rawHost(
  transport: MemoryTransport,
  clock: VirtualClock,
  address: string,
  incarnation: number,
) {
  const link = await transport.connect(address, { clock });
  cleanups.push(() => link.destroy());
  const seen: Array<{ type: number; body: Record<string, unknown> }> = [];
  link.on('packet', (type, body) => seen.push({ type, body: body as Record<string, unknown> }));
  link.send(PacketType.NodeConfiguration, {
    nodeId: 'node-a',
    hostPid: 1,
    nodeReuse: true,
    incarnation,
    heartbeat: { intervalMs: 100, timeoutMs: 500 },
  });
  await settle();
  return { link, seen };
}

describe('the node watches its host', () => {
  it('keeps a host that pings, and drops one silent for the timeout: its run cancelled, the node waiting for the next', async () => {
    const clock = new VirtualClock();
    const transport = new MemoryTransport();
    const { endpoint, logs } = await startEndpoint(transport, clock, 'node-a');
    const { link, seen } = await rawHost(transport, clock, endpoint.address, 3);
    expect(seen.map((packet) => packet.type)).toEqual([PacketType.NodeReady]);
    expect(endpoint.state).toBe('active');
    expect(endpoint.hostWatch).toBe('watching');
    link.send(PacketType.BuildRequest, { id: 'r1', task: task('held'), input: 'r1' });
    await settle();
    expect(endpoint.running).toBe(1);

    // Two seconds of pings every 100 ms: four times the timeout, and the host is kept.
    for (let seq = 1; seq <= 20; seq++) {
      link.send(PacketType.Ping, { seq });
      await pass(clock, 100);
    }
    expect(endpoint.state).toBe('active');
    expect(seen.filter((packet) => packet.type === PacketType.Pong)).toHaveLength(20);

    // Then silence: dropped at the first tick past 500 ms, not before.
    await pass(clock, 400);
    expect(endpoint.state).toBe('active');
    await pass(clock, 200);
    expect(endpoint.state).toBe('idle');
    expect(endpoint.running).toBe(0);
    expect(
      logs.some((line) =>
        /dropping host incarnation 3 .*nothing heard from it for \d+ ms \(heartbeat timeout 500 ms\)/.test(
          line,
        ),
      ),
    ).toBe(true);
    await settle();
    expect(link.state).toBe('closed');
    // The run the host left was cancelled, not reported to anyone.
    expect(seen.some((packet) => packet.type === PacketType.BuildResult)).toBe(false);

    // The next host (the same node's next incarnation) is served.
    const next = await rawHost(transport, clock, endpoint.address, 4);
    expect(next.seen.map((packet) => packet.type)).toEqual([PacketType.NodeReady]);
    next.link.send(PacketType.BuildRequest, { id: 'r2', task: task('double'), input: 21 });
    await settle();
    expect(next.seen.find((packet) => packet.type === PacketType.BuildResult)?.body).toMatchObject({
      id: 'r2',
      ok: true,
      value: 42,
    });
  });

  it('a node not kept for reuse exits when its host goes silent; a host without heartbeats is trusted', async () => {
    const clock = new VirtualClock();
    const transport = new MemoryTransport();
    const { endpoint } = await startEndpoint(transport, clock, 'node-b');
    const link = await transport.connect(endpoint.address, { clock });
    cleanups.push(() => link.destroy());
    link.send(PacketType.NodeConfiguration, {
      nodeId: 'node-b',
      hostPid: 1,
      nodeReuse: false,
      incarnation: 1,
      heartbeat: { intervalMs: 100, timeoutMs: 300 },
    });
    await settle();
    await pass(clock, 400);
    expect(endpoint.state).toBe('exiting');
    await endpoint.exited;

    const { endpoint: trusting } = await startEndpoint(transport, clock, 'node-c');
    const plain = await transport.connect(trusting.address, { clock });
    cleanups.push(() => plain.destroy());
    plain.send(PacketType.NodeConfiguration, {
      nodeId: 'node-c',
      hostPid: 1,
      nodeReuse: false,
      incarnation: 1,
    });
    await settle();
    await pass(clock, 5_000, 500);
    expect(trusting.state).toBe('active');
    expect(trusting.hostWatch).toBe('trusting');
  });

  it('refuses heartbeat times no timer could keep', async () => {
    const clock = new VirtualClock();
    const transport = new MemoryTransport();
    const { endpoint, logs } = await startEndpoint(transport, clock, 'node-d');
    const link: Link = await transport.connect(endpoint.address, { clock });
    cleanups.push(() => link.destroy());
    link.send(PacketType.NodeConfiguration, {
      nodeId: 'node-d',
      hostPid: 1,
      nodeReuse: false,
      incarnation: 1,
      heartbeat: { intervalMs: 500, timeoutMs: 500 },
    });
    await link.closed;
    expect(endpoint.state).toBe('waiting');
    expect(logs.join('\n')).toContain('heartbeat must be {intervalMs, timeoutMs}');
  });
});

/** A runtime on static endpoints `names` (reached over a partitionable network) with heartbeats. */
async function remoteWorld(names: string[], max: number) {
  const clock = new VirtualClock();
  const world = partitionableNetwork();
  const transport = new MemoryTransport({ network: world.network });
  const endpoints = await Promise.all(names.map((name) => startEndpoint(transport, clock, name, true)));
  const provider = new StaticEndpointProvider({
    transport,
    clock,
    ids: createIdSource(),
    endpoints: endpoints.map(({ endpoint }, at) => ({ name: names[at]!, address: endpoint.address })),
  });
  const runtime: Runtime = createRuntime({
    nodes: { provider, max, heartbeat: { intervalMs: 100, timeoutMs: 500 } },
    clock,
  });
  cleanups.push(() => runtime.shutdown());
  const lost: Array<{ node: NodeContext; error: Error }> = [];
  runtime.on('node.lost', (node, error) => lost.push({ node, error }));
  return { clock, world, provider, runtime, endpoints, lost };
}

describe('the host watches nodes with heartbeats', () => {
  it('pings an idle node, declares it lost when it falls silent though it holds nothing, and builds on another', async () => {
    const { clock, world, runtime, endpoints, lost } = await remoteWorld(['node-a', 'node-b'], 1);
    expect(await runtime.build({ task: task('double'), input: 4 })).toBe(8);
    const [first] = runtime.nodes;
    expect(first).toMatchObject({
      id: 'node-a',
      incarnation: 1,
      heartbeat: { intervalMs: 100, timeoutMs: 500 },
    });
    expect(first!.holding).toBe(0);

    // Idle, and answering: a heartbeat keeps it, well past the timeout.
    await pass(clock, 3_000);
    expect(first!.liveness).toBe('watching');
    expect(lost).toEqual([]);

    world.cut.add(endpoints[0]!.endpoint.address);
    await pass(clock, 700);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.node).toBe(first);
    expect(lost[0]!.error).toBeInstanceOf(NodeUnresponsiveError);
    expect(runtime.nodes).toEqual([]);
    // Its endpoint, behind the partition, dropped its host too.
    expect(endpoints[0]!.endpoint.state).toBe('idle');

    // The next build gets a node from the other endpoint.
    const build = runtime.build({ task: task('double'), input: 21 });
    await pass(clock, 200);
    expect(await build).toBe(42);
    expect(runtime.nodes.map((node) => node.id)).toEqual(['node-b']);
    world.heal(endpoints[0]!.endpoint.address);
  });
});

describe('fencing', () => {
  it('a result a lost incarnation sends from behind a partition that heals is dropped and reported; the rerun elsewhere answers', async () => {
    const { clock, world, runtime, endpoints, lost } = await remoteWorld(['node-a', 'node-b'], 2);
    const fenced: Array<{ node: string; incarnation: number; type: string; requestId: string }> = [];
    runtime.on('fenced', (node, packet) =>
      fenced.push({ node: node.id, incarnation: node.incarnation, ...packet }),
    );
    const warnings: string[] = [];
    runtime.on('log', (entry) => {
      if (entry.level === 'warn') warnings.push(entry.message);
    });
    const completions: string[] = [];
    runtime.on('request', (request, _from, to) => {
      if (to === 'completed') completions.push(request.id);
    });
    const heldOn = new Map<string, () => void>();
    runtime.on('log', (entry) => {
      if (entry.message === 'victim held') heldOn.set(entry.node, releases().get('victim')!);
    });

    const build = runtime.build({ task: task('held'), input: 'victim', retry: { attempts: 1 } });
    await passUntil(clock, () => heldOn.size > 0);
    expect([...heldOn.keys()]).toEqual(['node-a']);

    // Partitioned while it runs; it finishes behind the partition, and its result waits there.
    world.cut.add(endpoints[0]!.endpoint.address);
    heldOn.get('node-a')!();
    await settle();
    await pass(clock, 700);
    expect(lost.map(({ node }) => `${node.id}#${node.incarnation}`)).toEqual(['node-a#1']);
    // The rerun, on the other node.
    await passUntil(clock, () => heldOn.size > 1);
    expect([...heldOn.keys()]).toEqual(['node-a', 'node-b']);

    // The partition heals within the lost link's close timeout: the old result arrives.
    world.heal(endpoints[0]!.endpoint.address);
    await settle();
    expect(fenced).toEqual([
      { node: 'node-a', incarnation: 1, type: 'BuildResult', requestId: expect.any(String) },
    ]);
    expect(warnings.join('\n')).toMatch(
      /dropped BuildResult for request .* from incarnation 1 of node node-a, declared lost/,
    );
    expect(completions).toEqual([]);

    heldOn.get('node-b')!();
    expect(await build).toBe('victim released');
    expect(completions).toHaveLength(1);
    expect(completions[0]).toBe(fenced[0]!.requestId);
  });
});

describe('the heartbeat option', () => {
  it('refuses an interval that is not below the timeout, naming the option', () => {
    expect(() => createRuntime({ nodes: { heartbeat: { intervalMs: 500, timeoutMs: 500 } } })).toThrow(
      /nodes\.heartbeat\.intervalMs must be less than timeoutMs \(500\)/,
    );
    expect(() => createRuntime({ nodes: { heartbeat: { intervalMs: 6_000 } } })).toThrow(
      /nodes\.heartbeat\.intervalMs must be less than timeoutMs \(5000\)/,
    );
    expect(() => createRuntime({ nodes: { heartbeat: { timeoutMs: -1 } } })).toThrow(
      /nodes\.heartbeat\.timeoutMs/,
    );
  });
});
