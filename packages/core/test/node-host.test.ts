// A node context hands the conversation with its node to one host: the runtime's build host, a
// job worker, or its own direct requests (`request`, the low-level door). One rule says whether a
// close was orderly: nobody still waits for an answer from the node.
import {
  createRuntime,
  InProcessNodeProvider,
  NodeConnectionFailedError,
  type NodeContext,
  TroupeError,
  YieldMisuseError,
} from '@troupe/core';
import { afterEach, describe, expect, it } from 'vitest';
import { until } from './support/endpoint.js';

const tasks = new URL('./fixtures/inproc-tasks.mjs', import.meta.url).href;
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function directNode(): Promise<NodeContext> {
  const provider = new InProcessNodeProvider();
  cleanups.push(() => provider.shutdown());
  const [node] = await provider.acquire(1);
  return node!;
}

function shutdownsOf(node: NodeContext): string[] {
  const reasons: string[] = [];
  node.on('shutdown', (body) => reasons.push(body.reason));
  return reasons;
}

const quietHost = { receive: () => {}, awaitsAnswers: () => false };

describe('node host', () => {
  it('a node in a runtime belongs to it: direct requests are refused, and it takes no second host', async () => {
    const runtime = createRuntime({ nodes: { max: 1 } });
    cleanups.push(() => runtime.shutdown());
    expect(await runtime.build({ task: 'troupe:ping', input: 1 })).toMatchObject({ pid: process.pid });
    const [node] = runtime.nodes;
    const refused = await node!.request('troupe:ping', null).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(TroupeError);
    expect((refused as Error).message).toContain(node!.id);
    expect(() => node!.attachHost(quietHost)).toThrow(/already has a host/);
    // The runtime still drives it.
    expect(await runtime.build({ task: 'troupe:ping', input: 2 })).toMatchObject({ pid: process.pid });
  });

  it('a node with a direct request in flight cannot be handed to a host', async () => {
    const node = await directNode();
    const pending = node.request(`${tasks}#waitForCancel`, null).catch((error: unknown) => error);
    expect(node.inFlight).toBe(1);
    expect(() => node.attachHost(quietHost)).toThrow(/in flight/);
    await node.close({ reuse: false });
    await pending;
  });

  it('a close while a direct request waits for its answer fails it, naming the node', async () => {
    const node = await directNode();
    const shutdowns = shutdownsOf(node);
    const pending = node.request(`${tasks}#waitForCancel`, null).catch((error: unknown) => error);
    await node.close({ reuse: false });
    const error = await pending;
    expect(error).toBeInstanceOf(NodeConnectionFailedError);
    expect((error as Error).message).toContain(node.id);
    expect(node.failure).toBe(error);
    expect(shutdowns).toEqual(['ConnectionFailed']);
  });

  it('a close with no answer awaited is orderly', async () => {
    const node = await directNode();
    const shutdowns = shutdownsOf(node);
    expect(await node.request('troupe:ping', null)).toMatchObject({ pid: process.pid });
    await node.close({ reuse: false });
    expect(node.state).toBe('closed');
    expect(node.failure).toBeUndefined();
    expect(shutdowns).not.toContain('ConnectionFailed');
  });

  it('a task run directly that calls ctx.build is cancelled, and its caller told it needs a runtime', async () => {
    const node = await directNode();
    let outcome: unknown;
    void node.request(`${tasks}#destructured`, 1).then(
      (value) => {
        outcome = value;
      },
      (error: unknown) => {
        outcome = error;
      },
    );
    // Bounded: nobody here would ever answer the block.
    await until(() => outcome !== undefined, 'the direct request to settle');
    expect(outcome).toBeInstanceOf(YieldMisuseError);
    expect((outcome as Error).message).toMatch(
      /^request \S+ \(\S+#destructured\) on node \S+ called ctx\.build: ctx\.build and ctx\.yield need a runtime; NodeContext\.request runs a task alone$/,
    );
    expect(node.inFlight).toBe(0);
    // The Cancel reached the task: it ended, and its node holds nothing and runs the next.
    await until(() => node.holding === 0, 'the cancelled task to end');
    expect(await node.request(`${tasks}#echo`, 'next')).toBe('next');
  });

  it('a task run directly that yields is cancelled, and its caller told it needs a runtime', async () => {
    const node = await directNode();
    const global = globalThis as { __troupeYieldCancelled?: string };
    delete global.__troupeYieldCancelled;
    let outcome: unknown;
    void node.request(`${tasks}#yieldUntilCancelled`, null).catch((error: unknown) => {
      outcome = error;
    });
    await until(() => outcome !== undefined, 'the direct request to settle');
    expect(outcome).toBeInstanceOf(YieldMisuseError);
    expect((outcome as Error).message).toContain('called ctx.yield: ctx.build and ctx.yield need a runtime');
    await until(() => global.__troupeYieldCancelled !== undefined, 'the task to see its cancel');
    expect(global.__troupeYieldCancelled).toBe((outcome as Error).message);
    await until(() => node.holding === 0, 'the cancelled task to end');
  });

  it('a host given the node hears its results, and its answer decides whether a close is orderly', async () => {
    const node = await directNode();
    const shutdowns = shutdownsOf(node);
    const heard: string[] = [];
    // This host says a caller of its own still waits for the node: a close is then a failure.
    node.attachHost({ receive: (packet) => heard.push(packet.type), awaitsAnswers: () => true });
    node.send('BuildRequest', { id: 'by-hand', task: 'troupe:ping', input: null });
    await until(() => heard.length > 0, 'the host to hear the result');
    expect(heard).toEqual(['BuildResult']);
    expect(node.holding).toBe(0);
    await node.close({ reuse: false });
    expect(node.failure).toBeInstanceOf(NodeConnectionFailedError);
    expect(shutdowns).toEqual(['ConnectionFailed']);
  });
});
