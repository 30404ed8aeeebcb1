// The public door of @troupe/transport, name by name: a new public name is a decision taken here,
// not a side effect of an export added for core, the simulator or a test (those go to './internal').
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';

const kept = (names: string[]) => names;

const values = [
  'AddressInUseError',
  'AdmissionError',
  'AdmissionTimeoutError',
  'AuthenticationError',
  'ConnectError',
  'ConnectionFailedError',
  'FrameTimeoutError',
  'FrameTooLargeError',
  'FrameTruncatedError',
  'HandshakeError',
  'HandshakeMismatchError',
  'HandshakeTimeoutError',
  'InsecureListenError',
  'InvalidOptionError',
  'Link',
  'LinkClosedError',
  'ListenError',
  'Listener',
  'MemoryTransport',
  'PROTOCOL_VERSION',
  'PacketDecodeError',
  'PacketEncodeError',
  'PacketTooLargeError',
  'PendingBytesError',
  'PipeTransport',
  'ProtocolError',
  'RUNTIME_VERSION',
  'TcpTransport',
  'TooManyPendingError',
  'TroupeError',
  'UnsafeDirectoryError',
  'ValueNotCloneableError',
  'setUnhandledErrorReporter',
  'systemClock',
  'systemRandom',
];

/** Types vanish at run time, so they are read from the index's source. */
const types = [
  'AdmissionOptions',
  'Clock',
  'ConnectOptions',
  'Handshake',
  'HandshakeFlag',
  'HandshakeOptions',
  'LinkCloseInfo',
  'LinkCloseReason',
  'LinkEvents',
  'LinkOptions',
  'LinkState',
  'ListenOptions',
  'ListenerEvents',
  'MemoryTransportOptions',
  'PipeTransportOptions',
  'RandomSource',
  'TcpConnectOptions',
  'TcpListenOptions',
  'TimerId',
  'Transport',
  'TransportKind',
];

/** The names of the index's `export { ... } from` lines, split into values and types. */
async function indexNames(): Promise<{ values: string[]; types: string[] }> {
  const source = await readFile(new URL('../src/index.ts', import.meta.url), 'utf8');
  // `export *` would hide its names from this list.
  expect(source).not.toMatch(/export\s+(type\s+)?\*/);
  const names = { values: [] as string[], types: [] as string[] };
  for (const [, allTypes, list = ''] of source.matchAll(/export\s+(type\s+)?\{([^}]*)\}/g))
    for (const item of list
      .split(',')
      .map((part) => part.trim())
      .filter(Boolean)) {
      const name =
        item
          .replace(/^type\s+/, '')
          .split(/\s+as\s+/)
          .at(-1) ?? item;
      (allTypes || item.startsWith('type ') ? names.types : names.values).push(name);
    }
  return { values: kept(names.values).sort(), types: kept(names.types).sort() };
}

describe('the public index of @troupe/transport', () => {
  it('exports exactly these values at run time', async () => {
    expect(kept(Object.keys(await import('@troupe/transport'))).sort()).toEqual(values);
  });

  it('declares exactly these names, values and types', async () => {
    expect(await indexNames()).toEqual({ values, types });
  });

  it('keeps what it exports out of the internal door', async () => {
    const internal = Object.keys(await import('@troupe/transport/internal'));
    expect(internal.filter((name) => values.includes(name))).toEqual([]);
  });
});
