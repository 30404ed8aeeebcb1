import {
  AddressInUseError,
  AuthenticationError,
  ConnectError,
  ConnectionFailedError,
  FrameTooLargeError,
  FrameTruncatedError,
  HandshakeError,
  HandshakeMismatchError,
  HandshakeTimeoutError,
  InvalidOptionError,
  type Link,
  LinkClosedError,
  ListenError,
  MemoryTransport,
  PacketDecodeError,
  PacketEncodeError,
  PacketTooLargeError,
  PROTOCOL_VERSION,
  ProtocolError,
  setUnhandledErrorReporter,
  TroupeError,
  UnsafeDirectoryError,
} from '@troupe/transport';
import {
  createHandshake,
  decodeHandshake,
  encodeFrame,
  encodeHandshake,
  FrameDecoder,
  HANDSHAKE_LENGTH,
  handshakeExtraBytes,
  type MemoryNetwork,
  reportUnhandledError,
  userSalt,
  verifyHandshake,
} from '@troupe/transport/internal';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

function decodeAll(chunks: Uint8Array[], max?: number) {
  const frames: Array<[number, Buffer]> = [];
  const decoder = new FrameDecoder(
    (type, source, start, end) => frames.push([type, Buffer.from(source.subarray(start, end))]),
    max,
  );
  for (const chunk of chunks) decoder.push(chunk);
  decoder.end();
  return frames;
}

function splitAt(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let last = 0;
  for (const p of points) {
    out.push(bytes.subarray(last, p));
    last = p;
  }
  out.push(bytes.subarray(last));
  return out;
}

describe('frame decoder', () => {
  const frames = [
    encodeFrame(1, Buffer.from('hello')),
    encodeFrame(2, Buffer.alloc(0)),
    encodeFrame(255, Buffer.alloc(300, 7)),
  ];
  const stream = Buffer.concat(frames);

  it('yields exactly the frames sent: whole, many in one chunk, split in the header, one byte at a time', () => {
    const expected = [
      [1, Buffer.from('hello')],
      [2, Buffer.alloc(0)],
      [255, Buffer.alloc(300, 7)],
    ];
    expect(decodeAll([stream])).toEqual(expected);
    expect(decodeAll(frames)).toEqual(expected);
    expect(decodeAll([stream.subarray(0, 3), stream.subarray(3)])).toEqual(expected);
    expect(decodeAll([...stream].map((b) => Uint8Array.of(b)))).toEqual(expected);
  });

  it('accepts a length at the maximum and rejects one over it before buffering any body', () => {
    expect(decodeAll([encodeFrame(1, Buffer.alloc(10))], 10)).toHaveLength(1);
    const decoder = new FrameDecoder(() => {}, 10);
    const header = Buffer.from([9, 0xff, 0xff, 0xff, 0xff]);
    expect(() => decoder.push(header)).toThrow(FrameTooLargeError);
    expect(decoder.bufferedBytes).toBe(0);
    expect(decoder.state).toBe('failed');
    expect(() => decoder.push(Buffer.alloc(1))).toThrow(FrameTooLargeError);
  });

  it('reports a stream that ends inside a header or a body as truncated', () => {
    for (const cut of [2, 7]) {
      const decoder = new FrameDecoder(() => {});
      decoder.push(stream.subarray(0, cut));
      expect(() => decoder.end()).toThrow(FrameTruncatedError);
    }
  });

  it('property: any packets, any chunking, decode exactly', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 200 })), {
          maxLength: 30,
        }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (packets, cuts) => {
          const bytes = Buffer.concat(packets.map(([type, body]) => encodeFrame(type, body)));
          const decoded = decodeAll(splitAt(bytes, cuts));
          expect(decoded).toEqual(packets.map(([type, body]) => [type, Buffer.from(body)]));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('property: arbitrary or mutated bytes give frames or one typed protocol error, never more memory than the maximum', () => {
    const max = 1024;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 3000 }),
          fc
            .tuple(
              fc.uint8Array({ minLength: 1, maxLength: 500 }),
              fc.nat(),
              fc.integer({ min: 0, max: 255 }),
            )
            .map(([body, at, byte]) => {
              const frame = encodeFrame(1, body);
              frame[at % frame.length] = byte;
              return frame;
            }),
        ),
        fc.array(fc.nat(), { maxLength: 10 }),
        (bytes, cuts) => {
          const decoder = new FrameDecoder(() => {}, max);
          const chunks = splitAt(Buffer.from(bytes), cuts);
          const biggestChunk = Math.max(...chunks.map((c) => c.length));
          try {
            for (const chunk of chunks) {
              decoder.push(chunk);
              expect(decoder.bufferedBytes).toBeLessThanOrEqual(max + 5 + biggestChunk);
            }
            decoder.end();
          } catch (error) {
            expect(error).toBeInstanceOf(ProtocolError);
            expect(error instanceof FrameTooLargeError || error instanceof FrameTruncatedError).toBe(true);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('handshake', () => {
  it('is 36 bytes laid out as documented', () => {
    const block = encodeHandshake(
      createHandshake({ runtimeVersion: '1.2.3', nodeReuse: true, taskHost: true }),
    );
    expect(block).toHaveLength(36);
    expect(block.subarray(0, 4).toString('latin1')).toBe('TRPE');
    expect(block.readUInt16LE(4)).toBe(PROTOCOL_VERSION);
    expect([block.readUInt16LE(6), block.readUInt16LE(8), block.readUInt16LE(10)]).toEqual([1, 2, 3]);
    expect(block.readUInt32LE(12)).toBe(0b101);
    expect(block.subarray(32).toString('latin1')).toBe('HSOK');
    expect(decodeHandshake(block).runtimeVersion).toBe('1.2.3');
  });

  it('names the first differing component with both values', () => {
    const base = encodeHandshake(createHandshake());
    const cases: Array<[Buffer, string]> = [
      [Buffer.concat([Buffer.from('HTTP'), base.subarray(4)]), 'magic'],
      [encodeHandshake(createHandshake({ protocolVersion: PROTOCOL_VERSION + 1 })), 'protocol version'],
      [Buffer.concat([base.subarray(0, 32), Buffer.from('NOPE')]), 'end marker'],
      [encodeHandshake(createHandshake({ runtimeVersion: '3.0.0' })), 'runtime version'],
      [encodeHandshake(createHandshake({ lowPriority: true })), 'flags'],
      [encodeHandshake(createHandshake({ session: 'other' })), 'salt'],
    ];
    for (const [remote, component] of cases) {
      const error = verifyHandshake(base, remote);
      expect(error).toBeInstanceOf(HandshakeMismatchError);
      expect(error?.component).toBe(component);
      expect(error?.message).toMatch(/expected .+, peer sent .+/);
    }
    expect(verifyHandshake(base, Buffer.from(base))).toBeUndefined();
  });

  it('salts per user and per session, stably', () => {
    expect(userSalt()).toEqual(userSalt());
    expect(userSalt('a')).not.toEqual(userSalt());
    expect(userSalt('a')).not.toEqual(userSalt('b'));
  });

  it('rejects a bad runtime version or salt as an invalid option', () => {
    expect(() => createHandshake({ runtimeVersion: 'latest' })).toThrow(InvalidOptionError);
    expect(() => createHandshake({ salt: new Uint8Array(3) })).toThrow(InvalidOptionError);
  });

  it('an end sends handshakeExtraBytes(its block) between its block and its first frame, the authentication exchange', async () => {
    for (const secret of [undefined, 'shared secret']) {
      const wire: Buffer[] = [];
      const network: MemoryNetwork = {
        submit: (delivery) => {
          if (delivery.kind === 'data' && delivery.from.endsWith(':connector'))
            wire.push(Buffer.from(delivery.data!));
          queueMicrotask(() => delivery.deliver());
        },
      };
      const transport = new MemoryTransport({ network });
      const listener = await transport.listen({ ...(secret && { secret }) });
      const server = new Promise<Link>((resolve) => listener.once('link', resolve));
      const client = await transport.connect(listener.address, { ...(secret && { secret }) });
      const peer = await server;
      const got = new Promise((resolve) => peer.once('packet', resolve));
      client.send(9, 'first');
      await got;
      const bytes = Buffer.concat(wire);
      const block = bytes.subarray(0, HANDSHAKE_LENGTH);
      expect(handshakeExtraBytes(block)).toBe(secret ? 64 : 0);
      const frames = decodeAll([bytes.subarray(HANDSHAKE_LENGTH + handshakeExtraBytes(block))]);
      expect(frames.map(([type]) => type)).toEqual([9]);
      await client.destroy();
      await peer.destroy();
      await listener.close();
    }
  });

  it('property: any 36 bytes are a mismatch or a match, never a throw', () => {
    const base = encodeHandshake(createHandshake());
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 36, maxLength: 36 }), (bytes) => {
        const result = verifyHandshake(base, Buffer.from(bytes));
        expect(result === undefined || result instanceof HandshakeMismatchError).toBe(true);
      }),
    );
  });
});

describe('errors', () => {
  const table: Array<[string, TroupeError, Array<abstract new (...args: never[]) => unknown>]> = [
    ['TROUPE_ERROR', new TroupeError('x'), [TroupeError]],
    ['TROUPE_PROTOCOL_ERROR', new ProtocolError('x'), [ProtocolError, TroupeError]],
    [
      'TROUPE_FRAME_TOO_LARGE',
      new FrameTooLargeError(1, 2, 1),
      [FrameTooLargeError, ProtocolError, TroupeError],
    ],
    ['TROUPE_FRAME_TRUNCATED', new FrameTruncatedError(9, 3), [FrameTruncatedError, ProtocolError]],
    ['TROUPE_PACKET_DECODE', new PacketDecodeError(1, new Error('bad')), [PacketDecodeError, ProtocolError]],
    ['TROUPE_PACKET_ENCODE', new PacketEncodeError(1, new Error('bad')), [PacketEncodeError, TroupeError]],
    ['TROUPE_PACKET_TOO_LARGE', new PacketTooLargeError(1, 9, 5), [PacketTooLargeError, TroupeError]],
    ['TROUPE_HANDSHAKE_FAILED', new HandshakeError('x'), [HandshakeError]],
    [
      'TROUPE_HANDSHAKE_MISMATCH',
      new HandshakeMismatchError('salt', 'a', 'b'),
      [HandshakeMismatchError, HandshakeError],
    ],
    [
      'TROUPE_HANDSHAKE_TIMEOUT',
      new HandshakeTimeoutError(5, 'handshake'),
      [HandshakeTimeoutError, HandshakeError],
    ],
    ['TROUPE_AUTH_FAILED', new AuthenticationError('x'), [AuthenticationError, HandshakeError]],
    ['TROUPE_LINK_CLOSED', new LinkClosedError('l1', 'closed'), [LinkClosedError, TroupeError]],
    ['TROUPE_CONNECT_FAILED', new ConnectError('tcp://x:1', 'refused'), [ConnectError]],
    ['TROUPE_CONNECTION_FAILED', new ConnectionFailedError('x'), [ConnectionFailedError]],
    ['TROUPE_LISTEN_FAILED', new ListenError('x'), [ListenError]],
    ['TROUPE_ADDRESS_IN_USE', new AddressInUseError('/s'), [AddressInUseError, ListenError]],
    ['TROUPE_UNSAFE_DIRECTORY', new UnsafeDirectoryError('/d', 'open'), [UnsafeDirectoryError, ListenError]],
    ['TROUPE_INVALID_OPTION', new InvalidOptionError('o', 'a number', 'x'), [InvalidOptionError]],
  ];

  it.each(table)('%s: stable code, name, and instanceof its class and parents', (code, error, classes) => {
    expect(error.code).toBe(code);
    expect(error.name).toBe(error.constructor.name);
    expect(error).toBeInstanceOf(Error);
    for (const cls of classes) expect(error).toBeInstanceOf(cls);
  });

  it('instanceof works across copies of the library, by brand, and not for unrelated errors', () => {
    const foreign = Object.defineProperty(new Error('from another copy'), Symbol.for('troupe.error.codes'), {
      value: ['TROUPE_HANDSHAKE_MISMATCH', 'TROUPE_HANDSHAKE_FAILED', 'TROUPE_ERROR'],
    });
    expect(foreign).toBeInstanceOf(HandshakeMismatchError);
    expect(foreign).toBeInstanceOf(TroupeError);
    expect(foreign).not.toBeInstanceOf(AuthenticationError);
    expect(new Error('plain')).not.toBeInstanceOf(TroupeError);
    expect(new ConnectError('a', 'b')).not.toBeInstanceOf(ProtocolError);
  });

  it('routes unhandled errors to one reporter, and survives a reporter that throws', () => {
    const seen: unknown[] = [];
    const restore = setUnhandledErrorReporter((error) => seen.push(error));
    reportUnhandledError(new Error('lost'));
    setUnhandledErrorReporter(() => {
      throw new Error('reporter broke');
    });
    expect(() => reportUnhandledError(new Error('also lost'))).not.toThrow();
    restore();
    expect(seen).toHaveLength(1);
  });
});

describe('versions', () => {
  it('the runtime version in the handshake is the published package version', async () => {
    const { RUNTIME_VERSION } = await import('@troupe/transport');
    const { readFile } = await import('node:fs/promises');
    const manifest = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    expect(RUNTIME_VERSION).toBe(manifest.version);
  });

  it('the protocol version is the one docs/protocol.md documents, with a history row for it', async () => {
    const { readFile } = await import('node:fs/promises');
    const doc = await readFile(new URL('../../../docs/protocol.md', import.meta.url), 'utf8');
    expect(doc).toContain(`**Protocol version: ${PROTOCOL_VERSION}**`);
    const history = doc.slice(doc.indexOf('## History'));
    const rows = [...history.matchAll(/^\|\s*(\d+)\s*\|/gm)].map((m) => Number(m[1]));
    expect(Math.max(...rows)).toBe(PROTOCOL_VERSION);
  });
});
