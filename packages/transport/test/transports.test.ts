import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VirtualClock } from '@troupe/testing';
import {
  ConnectError,
  HandshakeMismatchError,
  type HandshakeOptions,
  type Link,
  LinkClosedError,
  type Listener,
  MemoryTransport,
  PipeTransport,
  type TcpListenOptions,
  TcpTransport,
  type Transport,
} from '@troupe/transport';
import { afterEach, describe, expect, it } from 'vitest';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempDir(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'troupe-t-'));
  cleanups.push(() => rm(directory, { recursive: true, force: true }));
  return directory;
}

/** These tests are about links, not authentication: their TCP listeners say so (`insecure`). */
class LoopbackTcpTransport extends TcpTransport {
  override listen(options: TcpListenOptions = {}) {
    return super.listen({ insecure: true, ...options });
  }
}

type Kind = 'memory' | 'pipe' | 'tcp';
async function transportOf(kind: Kind): Promise<Transport> {
  if (kind === 'memory') return new MemoryTransport();
  if (kind === 'pipe') return new PipeTransport({ directory: await tempDir() });
  return new LoopbackTcpTransport();
}

/** A listener whose links are handed to the test, and a connected pair. */
async function pair(kind: Kind, options: { highWaterMark?: number } = {}) {
  const transport = await transportOf(kind);
  const listener = await transport.listen(options);
  cleanups.push(() => listener.close());
  const accepted = new Promise<Link>((resolve) => listener.once('link', resolve));
  const client = await transport.connect(listener.address, options);
  const server = await accepted;
  cleanups.push(
    () => client.destroy(),
    () => server.destroy(),
  );
  return { transport, listener, client, server };
}

function collect(link: Link, count: number): Promise<Array<[number, unknown]>> {
  const got: Array<[number, unknown]> = [];
  return new Promise((resolve) => {
    link.on('packet', (type, body) => {
      got.push([type, body]);
      if (got.length === count) resolve(got);
    });
  });
}

async function sendAll(link: Link, count: number, make: (i: number) => unknown, type = 7): Promise<void> {
  for (let i = 0; i < count; i++) {
    if (!link.send(type, make(i))) await link.writable();
  }
}

describe.each<Kind>(['memory', 'pipe', 'tcp'])('%s transport', (kind) => {
  it('delivers 10,000 small packets in order', async () => {
    const { client, server } = await pair(kind);
    const received = collect(server, 10_000);
    await sendAll(client, 10_000, (i) => ({ i }));
    const got = await received;
    expect(got.map(([, body]) => (body as { i: number }).i)).toEqual(
      Array.from({ length: 10_000 }, (_, i) => i),
    );
    expect(got.every(([type]) => type === 7)).toBe(true);
  });

  it('delivers one 32 MiB packet byte for byte', async () => {
    const { client, server } = await pair(kind);
    const payload = Buffer.alloc(32 * 1024 * 1024);
    for (let i = 0; i < payload.length; i += 4096) payload[i] = (i / 4096) & 0xff;
    payload[payload.length - 1] = 0xab;
    const received = collect(server, 1);
    client.send(3, payload);
    const [type, body] = (await received)[0]!;
    expect(type).toBe(3);
    expect(Buffer.compare(body as Buffer, payload)).toBe(0);
  });

  it.each(['connector', 'listener'] as const)(
    'close from the %s side flushes what was sent and the peer sees closed-by-peer',
    async (side) => {
      const { client, server } = await pair(kind);
      const [closer, peer] = side === 'connector' ? [client, server] : [server, client];
      const received = collect(peer, 500);
      for (let i = 0; i < 500; i++) closer.send(1, i);
      const [closedInfo, peerInfo] = await Promise.all([closer.close(), peer.closed]);
      expect((await received).map(([, body]) => body)).toEqual(Array.from({ length: 500 }, (_, i) => i));
      expect(closedInfo.reason).toBe('closed');
      expect(peerInfo.reason).toBe('closed-by-peer');
      expect(() => closer.send(1, 'late')).toThrow(LinkClosedError);
      expect(() => peer.send(1, 'late')).toThrow(LinkClosedError);
    },
  );

  it('honours backpressure from a reader that pauses: the sender waits and memory stays bounded', async () => {
    const highWaterMark = 256 * 1024;
    const { client, server } = await pair(kind, { highWaterMark });
    server.pause();
    const body = Buffer.alloc(16 * 1024, 1);
    let sent = 0;
    let refused = false;
    let maxQueued = 0;
    // Fill until the sender is told to wait; with a paused reader that must happen.
    while (!refused && sent < 10_000) {
      refused = !client.send(2, body);
      sent++;
      maxQueued = Math.max(maxQueued, client.writableLength);
    }
    expect(refused).toBe(true);
    expect(maxQueued).toBeLessThanOrEqual(highWaterMark + body.length + 64);
    // Everything in flight is bounded: our queue plus what the channel below holds (kernel or network).
    expect(sent * body.length).toBeLessThan(16 * 1024 * 1024);
    const total = sent + 200;
    const received = collect(server, total);
    const writer = (async () => {
      for (let i = 0; i < 200; i++) {
        if (!client.send(2, body)) await client.writable();
        maxQueued = Math.max(maxQueued, client.writableLength);
      }
    })();
    server.resume();
    await writer;
    expect((await received).length).toBe(total);
    expect(maxQueued).toBeLessThanOrEqual(highWaterMark + body.length + 64);
  });

  const mismatches: Array<[string, HandshakeOptions, string]> = [
    ['runtime version', { runtimeVersion: '9.9.9' }, 'runtime version'],
    ['protocol version', { protocolVersion: 999 }, 'protocol version'],
    ['node reuse flag', { nodeReuse: true }, 'flags'],
    ['low priority flag', { lowPriority: true }, 'flags'],
    ['task host flag', { taskHost: true }, 'flags'],
    ['salt (another session)', { session: 'someone-else' }, 'salt'],
  ];
  it.each(mismatches)(
    'a handshake that differs in %s is refused, naming the component; the listener keeps serving',
    async (_what, handshake, component) => {
      const transport = await transportOf(kind);
      const listener: Listener = await transport.listen();
      cleanups.push(() => listener.close());
      const rejected = new Promise<Error>((resolve) => listener.once('rejected', resolve));
      const error = await transport.connect(listener.address, { handshake }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HandshakeMismatchError);
      expect((error as HandshakeMismatchError).component).toBe(component);
      expect((await rejected) as HandshakeMismatchError).toBeInstanceOf(HandshakeMismatchError);
      const accepted = new Promise<Link>((resolve) => listener.once('link', resolve));
      const good = await transport.connect(listener.address);
      cleanups.push(() => good.destroy());
      const server = await accepted;
      const echoed = collect(good, 1);
      server.on('packet', (type, body) => server.send(type, body));
      good.send(9, 'still serving');
      expect(await echoed).toEqual([[9, 'still serving']]);
    },
  );

  it('connecting to nothing fails quickly with a ConnectError naming the address', async () => {
    let address: string;
    const transport = await transportOf(kind);
    if (kind === 'memory') address = 'memory://nobody';
    else if (kind === 'pipe') address = join(await tempDir(), 'nobody.sock');
    else {
      // A port that was just free: listen, note it, close.
      const server = createServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as { port: number }).port;
      await new Promise<void>((resolve) => server.close(() => resolve()));
      address = `tcp://127.0.0.1:${port}`;
    }
    // On a clock that never moves, the connect timeout cannot end the attempt: only the refusal can.
    const clock = new VirtualClock();
    const error = await transport.connect(address, { clock }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as Error).message).toContain(address.replace(/^memory:\/\//, ''));
    expect(clock.pending).toBe(0);
  });
});
