// The host's side of a connection: the node context, against a node endpoint or a listener that
// misbehaves on purpose.
import { NodeConnectionFailedError } from '@troupe/core';
import { PacketType } from '@troupe/core/internal';
import { MemoryTransport } from '@troupe/transport';
import { afterEach, describe, expect, it } from 'vitest';
import { type Cleanups, endpointWorld, until } from './support/endpoint.js';

const tasks = new URL('./fixtures/inproc-tasks.mjs', import.meta.url).href;
const cleanups: Cleanups = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
const { startEndpoint, host } = endpointWorld(cleanups);

describe('node context', () => {
  it('closing a node that hung up right after accepting the host neither throws nor hangs', async () => {
    // The race itself (the host's link already closing while its context has not heard) needs a
    // socket's timing; the job-agent example under load is where it showed: the close threw and
    // a crashed worker's files were left behind. Here: the node hangs up at once.
    const transport = new MemoryTransport();
    const listener = await transport.listen();
    cleanups.push(() => listener.close());
    listener.on('link', (link) => {
      link.on('packet', (type) => {
        if (type !== PacketType.NodeConfiguration) return;
        link.send(PacketType.NodeReady, { pid: 1, threadId: 0 });
        void link.close();
      });
    });
    const node = host(transport, listener.address);
    const closing = new Promise<void>((resolve) => {
      void node.start(process.pid).then(() => {
        // NodeReady arrived; the end of stream follows in the same turn.
        queueMicrotask(() => resolve());
      });
    });
    await closing;
    await expect(node.close({ reuse: false })).resolves.toBeUndefined();
    expect(['closed', 'failed']).toContain(node.state);
  });

  it('turns a lost connection into NodeShutdown(ConnectionFailed) and fails the requests it held', async () => {
    const { endpoint, transport } = await startEndpoint();
    const node = host(transport, endpoint.address);
    const shutdowns: string[] = [];
    node.on('shutdown', (body) => shutdowns.push(body.reason));
    await node.start(process.pid);
    const pending = node.request(`${tasks}#waitForCancel`, null);
    await until(() => endpoint.running === 1, 'the request to start');
    await endpoint.exit();
    const error = await pending.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NodeConnectionFailedError);
    expect((error as Error).message).toContain(node.id);
    expect(shutdowns).toEqual(['ConnectionFailed']);
    expect(node.state).toBe('failed');
  });

  it('closes the link on an unknown packet type from the node, failing only that node', async () => {
    const transport = new MemoryTransport();
    const listener = await transport.listen();
    cleanups.push(() => listener.close());
    listener.on('link', (link) => {
      link.on('packet', (type) => {
        if (type === PacketType.NodeConfiguration) {
          link.send(PacketType.NodeReady, { pid: 1, threadId: 0 });
          link.send(200, 'surprise');
        }
      });
    });
    const { endpoint } = await startEndpoint(transport);
    const bad = host(transport, listener.address);
    const good = host(transport, endpoint.address);
    await Promise.all([bad.start(process.pid), good.start(process.pid)]);
    await bad.whenClosed;
    expect(bad.state).toBe('failed');
    expect(bad.failure?.message).toMatch(/unknown packet type 200/);
    expect(await good.request('troupe:ping', null)).toBeTruthy();
  });
});
