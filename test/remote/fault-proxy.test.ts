// The fault proxy the network tests put between host and node: each fault does to the bytes what
// it says, and nothing else (every byte arrives, in order, unless the fault is a cut).
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { FaultProxy } from '@troupe/testing/internal';
import { afterEach, describe, expect, it } from 'vitest';
import { Cleanups, until } from './support/lab.js';

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

/** An echo server on loopback and a proxy in front of it. */
async function echoBehindProxy(): Promise<{ proxy: FaultProxy; server: Server }> {
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.add(() => new Promise((resolve) => server.close(resolve)));
  const { port } = server.address() as { port: number };
  const proxy = await FaultProxy.start({ target: `tcp://127.0.0.1:${port}`, maxConnections: 2 });
  cleanups.add(() => proxy.close());
  return { proxy, server };
}

function dial(proxy: FaultProxy): Promise<{ socket: Socket; received: () => Buffer; closed: Promise<void> }> {
  const { hostname, port } = new URL(proxy.address.replace('tcp://', 'http://'));
  const socket = netConnect({ host: hostname, port: Number(port) });
  cleanups.add(() => socket.destroy());
  const chunks: Buffer[] = [];
  socket.on('data', (chunk) => chunks.push(chunk));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve({ socket, received: () => Buffer.concat(chunks), closed }));
    socket.once('error', reject);
  });
}

const bytes = (n: number, seed = 1) =>
  Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 255));

describe('FaultProxy', () => {
  it('with no fault, a delay or a trickle, every byte comes back in order', async () => {
    const { proxy } = await echoBehindProxy();
    for (const fault of [
      { kind: 'none' },
      { kind: 'delay', ms: 50 },
      { kind: 'trickle', bytesPerSecond: 200_000 },
    ] as const) {
      proxy.set(fault);
      const { socket, received, closed } = await dial(proxy);
      const sent = bytes(60_000, fault.kind.length);
      socket.end(sent);
      await closed;
      expect(received().equals(sent), fault.kind).toBe(true);
    }
    expect(proxy.stats).toMatchObject({ accepted: 3, refused: 0, open: 0, cuts: 0 });
  });

  it('a stall holds everything until it is lifted, then lets it all through', async () => {
    const { proxy } = await echoBehindProxy();
    const { socket, received } = await dial(proxy);
    socket.write(bytes(10));
    await until(() => received().length === 10, 'the first bytes to come back');
    proxy.set({ kind: 'stall', ms: 60_000 });
    socket.write(bytes(1000, 2));
    await until(() => proxy.stats.held === 1000, 'the proxy to hold what was sent');
    expect(received().length).toBe(10);
    proxy.set({ kind: 'none' });
    await until(() => received().length === 1010, 'the held bytes');
    expect(received().subarray(10).equals(bytes(1000, 2))).toBe(true);
  });

  it('a cut passes exactly the bytes it allows, then closes both sides, once', async () => {
    const { proxy } = await echoBehindProxy();
    const { socket, received, closed } = await dial(proxy);
    proxy.set({ kind: 'cut', afterBytes: 1500 });
    // 1000 out and 500 of the echo back make the 1500: the client sees half its echo, then the end.
    socket.write(bytes(1000));
    await closed;
    expect(received().equals(bytes(1000).subarray(0, 500))).toBe(true);
    expect(proxy.stats).toMatchObject({ cuts: 1, open: 0 });
    expect(proxy.fault).toEqual({ kind: 'none' });
    const after = await dial(proxy);
    after.socket.end(bytes(100));
    await after.closed;
    expect(after.received().equals(bytes(100))).toBe(true);
  });

  it('refuses connections past its bound, and stops on close', async () => {
    const { proxy } = await echoBehindProxy();
    await dial(proxy);
    await dial(proxy);
    const third = await dial(proxy);
    await third.closed;
    await until(() => proxy.stats.refused === 1, 'the third connection to be refused');
    await proxy.close();
    expect(proxy.stats.open).toBe(0);
    expect(() => proxy.set({ kind: 'stall', ms: 61_000 })).toThrow(/0 to 60000 ms/);
  });
});
