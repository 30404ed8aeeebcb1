import { createServer, type Socket } from 'node:net';
import {
  HandshakeTimeoutError,
  type Link,
  MemoryTransport,
  setUnhandledErrorReporter,
  TcpTransport,
} from '@troupe/transport';
import type { Delivery, MemoryNetwork } from '@troupe/transport/internal';
import { afterEach, describe, expect, it } from 'vitest';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A network that holds every delivery until the test releases it. */
function holdingNetwork() {
  const held: Delivery[] = [];
  const network: MemoryNetwork = { submit: (delivery) => held.push(delivery) };
  return {
    network,
    held,
    async releaseAll(filter: (d: Delivery) => boolean = () => true) {
      for (;;) {
        const index = held.findIndex(filter);
        if (index < 0) return;
        held.splice(index, 1)[0]!.deliver();
        await new Promise((resolve) => setImmediate(resolve));
      }
    },
  };
}

async function connected(transport: MemoryTransport, release: () => Promise<void>) {
  const listener = await transport.listen();
  cleanups.push(() => listener.close());
  const accepted = new Promise<Link>((resolve) => listener.once('link', resolve));
  const connecting = transport.connect(listener.address);
  await release();
  const client = await connecting;
  await release();
  const server = await accepted;
  cleanups.push(
    () => client.destroy(),
    () => server.destroy(),
  );
  return { client, server };
}

describe('memory network', () => {
  it("a 'packet' listener that throws is reported, and the link goes on delivering", async () => {
    const reported: unknown[] = [];
    cleanups.push(setUnhandledErrorReporter((error) => reported.push(error)));
    const transport = new MemoryTransport();
    const { client, server } = await connected(transport, async () => {});
    const got: unknown[] = [];
    const boom = new Error('listener failed');
    server.on('packet', (_t, body) => {
      got.push(body);
      if (body === 'a') throw boom;
    });
    client.send(1, 'a');
    client.send(1, 'b');
    await client.flushed();
    for (let turn = 0; turn < 100 && got.length < 2; turn++)
      await new Promise((resolve) => setImmediate(resolve));
    expect(got).toEqual(['a', 'b']);
    expect(reported).toEqual([boom]);
    expect(server.state).toBe('open');
  });

  it('nothing arrives until the network delivers it; a partition holds packets without losing them', async () => {
    const net = holdingNetwork();
    const transport = new MemoryTransport({ network: net.network });
    const { client, server } = await connected(transport, () => net.releaseAll());
    const got: unknown[] = [];
    server.on('packet', (_t, body) => got.push(body));
    client.send(1, 'a');
    client.send(1, 'b');
    await new Promise((resolve) => setImmediate(resolve));
    expect(got).toEqual([]);
    expect(net.held.length).toBeGreaterThan(0);
    await net.releaseAll();
    expect(got).toEqual(['a', 'b']);
  });

  it('a delivery that overtakes an earlier one of the same link waits for it: a link stays a stream', async () => {
    const net = holdingNetwork();
    const transport = new MemoryTransport({ network: net.network });
    const { client, server } = await connected(transport, () => net.releaseAll());
    const got: unknown[] = [];
    server.on('packet', (_t, body) => got.push(body));
    client.send(1, 'first');
    await new Promise((resolve) => setImmediate(resolve));
    client.send(1, 'second');
    await new Promise((resolve) => setImmediate(resolve));
    expect(net.held).toHaveLength(2);
    net.held.splice(1, 1)[0]!.deliver();
    await new Promise((resolve) => setImmediate(resolve));
    expect(got).toEqual([]);
    net.held.splice(0, 1)[0]!.deliver();
    await new Promise((resolve) => setImmediate(resolve));
    expect(got).toEqual(['first', 'second']);
  });

  it('a lost delivery breaks the link: both ends close with connection-failed', async () => {
    const net = holdingNetwork();
    const transport = new MemoryTransport({ network: net.network });
    const { client, server } = await connected(transport, () => net.releaseAll());
    client.send(1, 'lost');
    await new Promise((resolve) => setImmediate(resolve));
    net.held.shift()!.drop();
    const [a, b] = await Promise.all([client.closed, server.closed]);
    expect(a.reason).toBe('connection-failed');
    expect(b.reason).toBe('connection-failed');
    expect(a.error?.message).toMatch(/lost/);
  });
});

describe('handshake timeout', () => {
  it('a peer that accepts but never answers fails the connect with HandshakeTimeoutError', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanups.push(
      () => new Promise<void>((resolve) => silent.close(() => resolve())),
      () => {
        for (const socket of sockets) socket.destroy();
      },
    );
    const port = (silent.address() as { port: number }).port;
    const error = await new TcpTransport()
      .connect(`tcp://127.0.0.1:${port}`, { handshakeTimeoutMs: 100 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HandshakeTimeoutError);
    expect((error as Error).message).toContain('100 ms');
  });
});
