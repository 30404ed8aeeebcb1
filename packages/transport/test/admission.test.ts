// Hostile clients against a listener: connections that never get admitted, too many of them, too
// many bytes held by them, and a frame that starts and never finishes. Real TCP sockets; the
// listener's and links' timers run on a virtual clock the test advances.
import { connect as netConnect, type Socket } from 'node:net';
import { VirtualClock } from '@troupe/testing';
import {
  AdmissionTimeoutError,
  FrameTimeoutError,
  type Link,
  type LinkCloseInfo,
  type Listener,
  PendingBytesError,
  type TcpListenOptions,
  TcpTransport,
  TooManyPendingError,
} from '@troupe/transport';
import { createHandshake, encodeHandshake, networkSalt } from '@troupe/transport/internal';
import { afterEach, describe, expect, it } from 'vitest';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function until(predicate: () => boolean, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 5_000;
    const check = () => {
      if (predicate()) resolve();
      else if (Date.now() > deadline) reject(new Error(`gave up waiting for ${what}`));
      else setTimeout(check, 2);
    };
    check();
  });
}

async function listen(options: TcpListenOptions): Promise<{ listener: Listener; links: Link[] }> {
  const listener = await new TcpTransport().listen({ insecure: true, ...options });
  cleanups.push(() => listener.close());
  const links: Link[] = [];
  listener.on('link', (link) => {
    links.push(link);
    cleanups.push(() => link.destroy());
  });
  return { listener, links };
}

/** A raw socket to the listener: the stranger's side, which speaks only what the test writes. */
async function stranger(address: string): Promise<Socket & { gone: Promise<void>; port: number }> {
  const { port } = new URL(address.replace('tcp://', 'http://'));
  const socket = netConnect({ host: '127.0.0.1', port: Number(port) });
  cleanups.push(() => socket.destroy());
  socket.on('error', () => {});
  socket.on('data', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return Object.assign(socket, { gone: closed, port: socket.localPort! });
}

/**
 * The handshake block a listener without flags expects: what lets a stranger past the handshake.
 * A TCP listener's carries the network salt (the same for every user).
 */
const handshakeBlock = encodeHandshake(createHandshake({ salt: networkSalt() }, false));

/** A frame header: type, then a little-endian u32 length. */
function frameHeader(type: number, length: number): Buffer {
  const header = Buffer.alloc(5);
  header[0] = type;
  header.writeUInt32LE(length, 1);
  return header;
}

describe('a frame that begins and stops', () => {
  it('a header announcing 60 MiB followed by silence closes that link after frameTimeoutMs; bytes arriving reset the wait', async () => {
    const clock = new VirtualClock();
    const { listener, links } = await listen({ clock, frameTimeoutMs: 30_000 });
    const hostile = await stranger(listener.address);
    hostile.write(Buffer.concat([handshakeBlock, frameHeader(2, 60 * 1024 * 1024), Buffer.alloc(1000)]));
    await until(() => links.length === 1, 'the link');
    const link = links[0]!;
    link.on('packet', () => {});
    await until(() => link.readableLength >= 1000, 'the partial frame to arrive');
    let closed: LinkCloseInfo | undefined;
    void link.closed.then((info) => {
      closed = info;
    });

    clock.advance(20_000);
    hostile.write(Buffer.alloc(1000));
    await until(() => link.readableLength >= 2000, 'more of the frame');
    clock.advance(29_999);
    await Promise.resolve();
    expect(link.state).toBe('open');

    clock.advance(1);
    await until(() => closed !== undefined, 'the link to close');
    expect(closed?.reason).toBe('protocol-error');
    expect(closed?.error).toBeInstanceOf(FrameTimeoutError);
    expect(closed?.error?.message).toBe(
      'a frame in progress got no more bytes for 30000 ms (2000 bytes of it held)',
    );
    await hostile.gone;
  });

  it('a link its owner paused is not timed: the peer waits on it, not the other way round', async () => {
    const clock = new VirtualClock();
    const { listener, links } = await listen({ clock, frameTimeoutMs: 30_000 });
    const hostile = await stranger(listener.address);
    hostile.write(Buffer.concat([handshakeBlock, frameHeader(2, 4096), Buffer.alloc(100)]));
    await until(() => links.length === 1, 'the link');
    const link = links[0]!;
    link.on('packet', () => {});
    await until(() => link.readableLength >= 100, 'the partial frame to arrive');
    link.pause();
    clock.advance(90_000);
    await Promise.resolve();
    expect(link.state).toBe('open');

    link.resume();
    clock.advance(30_000);
    await until(() => link.state === 'closed', 'the link to close');
    expect((await link.closed).error).toBeInstanceOf(FrameTimeoutError);
  });
});

describe('connections waiting to be admitted', () => {
  it('one that passed the handshake and is never admitted is closed at the deadline; an admitted one stays', async () => {
    const clock = new VirtualClock();
    const { listener, links } = await listen({ clock, admission: { manual: true, timeoutMs: 5_000 } });
    const rejected: Array<[Error, string]> = [];
    listener.on('rejected', (error, peer) => rejected.push([error, peer]));
    const tcp = new TcpTransport();
    const idler = await tcp.connect(listener.address, { clock });
    cleanups.push(() => idler.destroy());
    const host = await tcp.connect(listener.address, { clock });
    cleanups.push(() => host.destroy());
    await until(() => links.length === 2, 'both links');
    listener.admit(links[1]!);
    expect(listener.pending).toBe(1);

    clock.advance(4_999);
    await Promise.resolve();
    expect(links[0]!.state).toBe('open');

    clock.advance(1);
    const closed = await links[0]!.closed;
    expect(closed.error).toBeInstanceOf(AdmissionTimeoutError);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]![0]).toBeInstanceOf(AdmissionTimeoutError);
    expect(rejected[0]![0].message).toBe(
      `${links[0]!.peer} was not admitted within 5000 ms of its handshake`,
    );
    expect(rejected[0]![1]).toBe(links[0]!.peer);
    await idler.closed;
    expect(listener.pending).toBe(0);

    // The admitted link is untouched by any deadline.
    clock.advance(60_000);
    const echoed = new Promise((resolve) => host.once('packet', (_type, body) => resolve(body)));
    links[1]!.on('packet', (type, body) => links[1]!.send(type, body));
    host.send(1, 'still here');
    expect(await echoed).toBe('still here');
  });

  it('one more than maxPending closes the oldest pending connection, and the newcomer gets in', async () => {
    // Time stands still for the listener: its strangers go by eviction alone, never by a timeout.
    const { listener, links } = await listen({ clock: new VirtualClock(), admission: { maxPending: 3 } });
    const rejected: Array<[Error, string]> = [];
    listener.on('rejected', (error, peer) => rejected.push([error, peer]));
    // Strangers that connect and say nothing: each holds a descriptor, and would hold it for good.
    const silent: Array<Socket & { gone: Promise<void>; port: number }> = [];
    for (let i = 0; i < 3; i++) {
      silent.push(await stranger(listener.address));
      await until(() => listener.pending === i + 1, `stranger ${i + 1} to be accepted`);
    }

    const host = await new TcpTransport().connect(listener.address);
    cleanups.push(() => host.destroy());
    await silent[0]!.gone;
    expect(rejected).toHaveLength(1);
    expect(rejected[0]![0]).toBeInstanceOf(TooManyPendingError);
    expect(rejected[0]![1]).toBe(`127.0.0.1:${silent[0]!.port}`);
    expect(rejected[0]![0].message).toMatch(/the oldest of 3 connections waiting to be admitted/);
    await until(() => links.length === 1, 'the host link');
    // Admitted at its handshake (no manual admission here): only the two later strangers wait.
    expect(listener.pending).toBe(2);
    expect(silent[1]!.destroyed || silent[2]!.destroyed).toBe(false);
  });

  it('bytes held across pending connections over maxPendingBytes close the one holding the most; a host holding little gets in', async () => {
    const { listener, links } = await listen({
      clock: new VirtualClock(),
      admission: { manual: true, maxPendingBytes: 64 * 1024 },
    });
    const rejected: Error[] = [];
    listener.on('rejected', (error) => rejected.push(error));
    listener.on('link', (link) => link.on('packet', (type, body) => link.send(type, body)));

    const big = await stranger(listener.address);
    big.write(Buffer.concat([handshakeBlock, frameHeader(2, 60 * 1024 * 1024), Buffer.alloc(40 * 1024)]));
    await until(() => listener.pendingBytes >= 40 * 1024, 'the first stranger to hold 40 KiB');
    const small = await stranger(listener.address);
    small.write(Buffer.concat([handshakeBlock, frameHeader(2, 60 * 1024 * 1024), Buffer.alloc(30 * 1024)]));

    await big.gone;
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toBeInstanceOf(PendingBytesError);
    const error = rejected[0] as PendingBytesError;
    expect(error.bytes).toBeGreaterThanOrEqual(40 * 1024);
    expect(error.totalBytes).toBeGreaterThan(64 * 1024);
    expect(error.maxPendingBytes).toBe(64 * 1024);
    await until(() => listener.pendingBytes >= 30 * 1024, 'the second stranger to hold 30 KiB');
    expect(small.destroyed).toBe(false);
    expect(listener.pendingBytes).toBeLessThanOrEqual(64 * 1024);

    // A host, which holds next to nothing before it is admitted, still gets in and is served.
    const host = await new TcpTransport().connect(listener.address);
    cleanups.push(() => host.destroy());
    await until(() => links.length === 3, 'the host link');
    listener.admit(links[2]!);
    const echoed = new Promise((resolve) => host.once('packet', (_type, body) => resolve(body)));
    host.send(1, 'served');
    expect(await echoed).toBe('served');
    expect(small.destroyed).toBe(false);
  });

  it('admission limits are checked when listening: a bad one is an InvalidOptionError naming it', async () => {
    await expect(new TcpTransport().listen({ insecure: true, admission: { maxPending: 0 } })).rejects.toThrow(
      /option admission\.maxPending must be a positive integer; received 0/,
    );
  });
});
