// What a value is after it crossed a link: structured-clone semantics on every link kind, and a
// refusal naming the path of what cannot cross, on the sending side.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import {
  Link,
  MemoryTransport,
  PacketEncodeError,
  PipeTransport,
  type TcpListenOptions,
  TcpTransport,
  type Transport,
  ValueNotCloneableError,
} from '@troupe/transport';
import {
  createValueDecoder,
  createValueEncoder,
  findRefused,
  forgetStructures,
  messagePortChannel,
  openLink,
} from '@troupe/transport/internal';
import { afterEach, describe, expect, it } from 'vitest';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type Kind = 'memory' | 'pipe' | 'tcp' | 'port';

async function transportOf(kind: Exclude<Kind, 'port'>): Promise<Transport> {
  if (kind === 'memory') return new MemoryTransport();
  if (kind === 'tcp') return new TcpTransport();
  const directory = await mkdtemp(join(tmpdir(), 'troupe-values-'));
  cleanups.push(() => rm(directory, { recursive: true, force: true }));
  return new PipeTransport({ directory });
}

async function pair(kind: Kind): Promise<{ client: Link; server: Link }> {
  if (kind === 'port') {
    const { port1, port2 } = new MessageChannel();
    const server = new Link(messagePortChannel(port2, 'client'), 'listener');
    const client = await openLink(messagePortChannel(port1, 'server'), {});
    await server.opened;
    cleanups.push(
      () => client.destroy(),
      () => server.destroy(),
    );
    return { client, server };
  }
  const transport = await transportOf(kind);
  // Loopback TCP without a secret must be asked for; values, not authentication, are tested here.
  const listener = await transport.listen(
    kind === 'tcp' ? ({ insecure: true } as TcpListenOptions) : undefined,
  );
  cleanups.push(() => listener.close());
  const accepted = new Promise<Link>((resolve) => listener.once('link', resolve));
  const client = await transport.connect(listener.address);
  const server = await accepted;
  cleanups.push(
    () => client.destroy(),
    () => server.destroy(),
  );
  return { client, server };
}

function next(link: Link): Promise<unknown> {
  return new Promise((resolve) => link.once('packet', (_type, body) => resolve(body)));
}

async function roundTrip(link: { client: Link; server: Link }, value: unknown): Promise<unknown> {
  const received = next(link.server);
  link.client.send(7, { value });
  return ((await received) as { value: unknown }).value;
}

const tag = (value: unknown) => Object.prototype.toString.call(value);

describe.each<Kind>(['memory', 'pipe', 'tcp', 'port'])('values over a %s link', (kind) => {
  it('arrive as the same kinds of value, with structured-clone semantics', async () => {
    const link = await pair(kind);
    const shared = { n: 1 };
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    class Point {
      constructor(
        readonly x: number,
        readonly y: number,
      ) {}
      norm() {
        return Math.hypot(this.x, this.y);
      }
    }
    const error = new RangeError('out of range', { cause: 'too big' });
    const sent = {
      map: new Map<unknown, unknown>([
        ['a', 1],
        [2, { b: new Set(['c']) }],
      ]),
      set: new Set([1, 'two', 3n]),
      date: new Date(1_700_000_000_123),
      regexp: /a+b/gi,
      bigint: 2n ** 100n,
      small: -5n,
      float64: new Float64Array([1.5, -2.25]),
      int32: new Int32Array([-1, 7]),
      bytes: new Uint8Array([1, 2, 3]),
      buffer: Buffer.from('buf'),
      arrayBuffer: new Uint8Array([9, 8]).buffer,
      undefined: undefined,
      nan: Number.NaN,
      error,
      point: new Point(3, 4),
      shared: [shared, shared],
      cyclic,
    };
    const got = (await roundTrip(link, sent)) as typeof sent;
    expect(tag(got.map)).toBe('[object Map]');
    expect([...got.map.keys()]).toEqual(['a', 2]);
    expect(tag((got.map.get(2) as { b: unknown }).b)).toBe('[object Set]');
    expect(got.set).toEqual(new Set([1, 'two', 3n]));
    expect(tag(got.date)).toBe('[object Date]');
    expect(got.date.getTime()).toBe(1_700_000_000_123);
    expect(tag(got.regexp)).toBe('[object RegExp]');
    expect([got.regexp.source, got.regexp.flags]).toEqual(['a+b', 'gi']);
    expect(got.bigint).toBe(2n ** 100n);
    expect(got.small).toBe(-5n);
    expect(tag(got.float64)).toBe('[object Float64Array]');
    expect([...got.float64]).toEqual([1.5, -2.25]);
    expect(tag(got.int32)).toBe('[object Int32Array]');
    expect([...got.int32]).toEqual([-1, 7]);
    expect(tag(got.bytes)).toBe('[object Uint8Array]');
    expect([...got.bytes]).toEqual([1, 2, 3]);
    expect(Buffer.isBuffer(got.buffer)).toBe(true);
    expect(got.buffer.toString()).toBe('buf');
    expect(tag(got.arrayBuffer)).toBe('[object ArrayBuffer]');
    expect([...new Uint8Array(got.arrayBuffer)]).toEqual([9, 8]);
    expect('undefined' in got && got.undefined === undefined).toBe(true);
    expect(got.nan).toBeNaN();
    expect(got.error).toBeInstanceOf(RangeError);
    expect([got.error.name, got.error.message, got.error.cause]).toEqual([
      'RangeError',
      'out of range',
      'too big',
    ]);
    // A class instance arrives as its own fields, as postMessage gives it.
    expect(tag(got.point)).toBe('[object Object]');
    expect({ ...got.point }).toEqual({ x: 3, y: 4 });
    expect(got.shared[0]).toBe(got.shared[1]);
    expect(got.cyclic.self).toBe(got.cyclic);
  });

  it('refuses what cannot cross on the sending side, naming its path, and the link goes on', async () => {
    const link = await pair(kind);
    const refusals: Array<[unknown, string]> = [
      [{ handlers: [0, 1, { onDone: () => {} }] }, 'body.value.handlers[2].onDone is a function'],
      [{ s: Symbol('x') }, 'body.value.s is a symbol'],
      [{ later: Promise.resolve(1) }, 'body.value.later is a Promise'],
      [new Map([['k', new WeakMap()]]), 'body.value.get("k") is a WeakMap'],
      [new Set([{ 'odd key': () => 1 }]), 'body.value.<member 0>["odd key"] is a function'],
      [{ boxed: new String('s') }, 'body.value.boxed is a boxed String'],
      [[new URL('file:///a')], 'body.value[0] is a URL'],
    ];
    for (const [value, message] of refusals) {
      let thrown: unknown;
      try {
        link.client.send(7, { value });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(PacketEncodeError);
      const cause = (thrown as PacketEncodeError).cause;
      expect(cause).toBeInstanceOf(ValueNotCloneableError);
      expect((cause as Error).message).toContain(message);
    }
    // Nothing half-encoded went out: the next packet is the next thing the peer reads.
    expect(await roundTrip(link, { fine: [1, { two: 2 }] })).toEqual({ fine: [1, { two: 2 }] });
  });
});

describe('findRefused', () => {
  it('walks what the encoder walks, each object once', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(findRefused(cyclic, 'input')).toBeUndefined();
    expect(findRefused(new Error('x', { cause: { f: () => 1 } }), 'result')).toEqual({
      path: 'result.cause.f',
      what: 'a function',
    });
    expect(findRefused(() => 1, 'result')).toEqual({ path: 'result', what: 'a function' });
    expect(findRefused([new Map([[{ k: Symbol() }, 1]])], 'input')).toEqual({
      path: 'input[0].<key 0>.k',
      what: 'a symbol',
    });
  });
});

// A link's encoder is `sequential`: the first packet of each shape defines a record structure
// inline, later ones only name it. A packet encoded and then not sent (its encoding failed
// half-way, or it was too large) may have taken a structure the peer never saw, so the link makes
// its encoder forget them all (`forgetStructures`, msgpackr's `clearSharedData`). These pin what
// that relies on in msgpackr, so an upgrade that changes it fails here, not on a wire.
describe('record structures', () => {
  const shapes = [{ a: 1, b: 'two' }, { c: [3] }, { a: 4, b: 'five' }, { nested: { d: 6 } }];

  it('an encoder that forgot its structures writes exactly what a fresh one writes', () => {
    const used = createValueEncoder();
    for (const shape of shapes) used.pack(shape);
    forgetStructures(used);
    const fresh = createValueEncoder();
    for (const shape of [...shapes, { x: 1, y: 2 }, ...shapes]) {
      expect(used.pack(shape).equals(fresh.pack(shape))).toBe(true);
    }
  });

  it('a decoder that read the stream before the forgetting reads it after, structures defined again', () => {
    const encoder = createValueEncoder();
    const decoder = createValueDecoder();
    for (const shape of shapes) expect(decoder.unpack(encoder.pack(shape))).toEqual(shape);
    encoder.pack({ unsent: 1, shape: 2 }); // encoded, never sent
    forgetStructures(encoder);
    const after = [{ unsent: 3, shape: 4 }, ...shapes, { unsent: 5, shape: 6 }];
    for (const shape of after) expect(decoder.unpack(encoder.pack(shape))).toEqual(shape);
  });

  it('without the forgetting, a packet after an unsent one names a structure the peer never saw', () => {
    const encoder = createValueEncoder();
    const decoder = createValueDecoder();
    for (const shape of shapes) decoder.unpack(encoder.pack(shape));
    encoder.pack({ unsent: 1, shape: 2 }); // encoded, never sent
    const next = encoder.pack({ unsent: 3, shape: 4 });
    let read: unknown;
    try {
      read = decoder.unpack(next);
    } catch {
      read = 'unreadable';
    }
    expect(read).not.toEqual({ unsent: 3, shape: 4 });
  });
});
