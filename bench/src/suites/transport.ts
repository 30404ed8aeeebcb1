import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Link, PipeTransport } from '@troupe/transport';
import { alternate, type Row, row, type SuiteOptions } from '../measure.js';

/**
 * troupe's framed pipe link against a raw Unix socket doing one `write` per message with a
 * 4-byte length prefix, the idiomatic hand-rolled protocol. Both ends live in this process.
 */

interface RawPair {
  client: Socket;
  server: Socket;
  close(): Promise<void>;
}

async function rawPair(path: string): Promise<RawPair> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  const client = connect(path);
  await new Promise<void>((resolve) => client.once('connect', resolve));
  const peer = await accepted;
  return {
    client,
    server: peer,
    close: async () => {
      client.destroy();
      peer.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Counts length-prefixed messages on a socket, calling `onMessage` with each payload. */
function rawReader(socket: Socket, onMessage: (payload: Buffer) => void): void {
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    let offset = 0;
    while (pending.length - offset >= 4) {
      const length = pending.readUInt32LE(offset);
      if (pending.length - offset - 4 < length) break;
      onMessage(pending.subarray(offset + 4, offset + 4 + length));
      offset += 4 + length;
    }
    pending = pending.subarray(offset);
  });
}

function rawWrite(socket: Socket, payload: Buffer): boolean {
  const frame = Buffer.allocUnsafe(4 + payload.length);
  frame.writeUInt32LE(payload.length, 0);
  payload.copy(frame, 4);
  return socket.write(frame);
}

async function rawThroughput(path: string, size: number, count: number): Promise<number> {
  const pair = await rawPair(path);
  const payload = Buffer.alloc(size, 1);
  let received = 0;
  const done = new Promise<void>((resolve) =>
    rawReader(pair.server, () => {
      if (++received === count) resolve();
    }),
  );
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    if (!rawWrite(pair.client, payload)) await new Promise((resolve) => pair.client.once('drain', resolve));
  }
  await done;
  const seconds = (performance.now() - start) / 1000;
  await pair.close();
  return count / seconds;
}

async function troupePair(
  pipe: PipeTransport,
): Promise<{ client: Link; server: Link; close(): Promise<void> }> {
  const listener = await pipe.listen();
  const accepted = new Promise<Link>((resolve) => listener.once('link', resolve));
  const client = await pipe.connect(listener.address);
  const server = await accepted;
  return {
    client,
    server,
    close: async () => {
      await Promise.all([client.destroy(), server.destroy()]);
      await listener.close();
    },
  };
}

async function troupeThroughput(pipe: PipeTransport, size: number, count: number): Promise<number> {
  const pair = await troupePair(pipe);
  const payload = Buffer.alloc(size, 1);
  let received = 0;
  const done = new Promise<void>((resolve) =>
    pair.server.on('packet', () => {
      if (++received === count) resolve();
    }),
  );
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    if (!pair.client.send(1, payload)) await pair.client.writable();
  }
  await done;
  const seconds = (performance.now() - start) / 1000;
  await pair.close();
  return count / seconds;
}

async function rawRoundTrip(path: string, rounds: number): Promise<number> {
  const pair = await rawPair(path);
  const payload = Buffer.alloc(64, 1);
  rawReader(pair.server, (message) => rawWrite(pair.server, message));
  let wake: () => void = () => {};
  rawReader(pair.client, () => wake());
  const start = performance.now();
  for (let i = 0; i < rounds; i++) {
    const reply = new Promise<void>((resolve) => {
      wake = resolve;
    });
    rawWrite(pair.client, payload);
    await reply;
  }
  const micros = ((performance.now() - start) * 1000) / rounds;
  await pair.close();
  return micros;
}

async function troupeRoundTrip(pipe: PipeTransport, rounds: number): Promise<number> {
  const pair = await troupePair(pipe);
  const payload = Buffer.alloc(64, 1);
  pair.server.on('packet', (type, body) => pair.server.send(type, body));
  let wake: () => void = () => {};
  pair.client.on('packet', () => wake());
  const start = performance.now();
  for (let i = 0; i < rounds; i++) {
    const reply = new Promise<void>((resolve) => {
      wake = resolve;
    });
    pair.client.send(1, payload);
    await reply;
  }
  const micros = ((performance.now() - start) * 1000) / rounds;
  await pair.close();
  return micros;
}

export async function transportSuite({ quick }: SuiteOptions): Promise<Row[]> {
  const directory = await mkdtemp(join(tmpdir(), 'troupe-bench-'));
  const pipe = new PipeTransport({ directory });
  const rawPath = join(directory, 'raw.sock');
  const rounds = quick ? 1 : 5;
  const scale = quick ? 0.05 : 1;
  const n = (count: number) => Math.max(10, Math.round(count * scale));
  try {
    // Warm both paths (JIT, socket buffers) before anything is measured.
    await rawThroughput(rawPath, 64, 20_000);
    await troupeThroughput(pipe, 64, 20_000);
    await rawRoundTrip(rawPath, 500);
    await troupeRoundTrip(pipe, 500);
    const rows: Row[] = [];
    for (const [name, size, count] of [
      ['64 B messages', 64, n(200_000)],
      ['1 KiB messages', 1024, n(100_000)],
    ] as const) {
      const figures = await alternate(
        rounds,
        () => rawThroughput(rawPath, size, count),
        () => troupeThroughput(pipe, size, count),
      );
      rows.push(row('transport', name, 'msg/s', figures, '>= 1.5'));
    }
    const big = n(3_000);
    const mb = (perSecond: number) => (perSecond * 64 * 1024) / 1e6;
    const bulk = await alternate(
      rounds,
      async () => mb(await rawThroughput(rawPath, 64 * 1024, big)),
      async () => mb(await troupeThroughput(pipe, 64 * 1024, big)),
    );
    rows.push(row('transport', '64 KiB messages', 'MB/s', bulk, '>= 0.9'));
    const trips = n(5_000);
    const rtt = await alternate(
      rounds,
      () => rawRoundTrip(rawPath, trips),
      () => troupeRoundTrip(pipe, trips),
    );
    rows.push(row('transport', 'round trip (lower is better)', 'µs', rtt, '<= 1.3'));
    return rows;
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}
