// The line `troupe node` prints on stdout once it can be connected to, and what a host reads from
// it: the one format both sides share, with the handshake salt of TCP nodes. The interface list
// (node:os) is read where the node is; the salt is the transport's network salt.

import { networkInterfaces } from 'node:os';
import { networkSalt } from '@troupe/transport/internal';

/** The handshake salt of a node on TCP: the transport's network salt (what TcpTransport uses unless told otherwise). */
export function tcpSalt(session?: string): Uint8Array {
  return networkSalt(session);
}

/** `{"event":"listening","address":...,"pid":...,"addresses":[...]}`: one JSON line on stdout. */
export interface ListeningLine {
  event: 'listening';
  /** What the node bound: a pipe name, or `tcp://host:port` (`0.0.0.0` when bound to every interface). */
  address: string;
  pid: number;
  /**
   * TCP nodes: every `tcp://IP:PORT` a host may dial. Bound to 0.0.0.0, each non-internal IPv4
   * interface, then loopback (a host in another network namespace or on another machine reaches
   * the first; one on the same machine reaches them all); bound to one address, only that one.
   */
  addresses?: string[];
}

/** The addresses a node bound to `tcp://host:port` can be reached at (see `ListeningLine.addresses`). */
export function reachableAddresses(bound: string): string[] {
  const match = /^tcp:\/\/0\.0\.0\.0:(\d+)$/.exec(bound);
  if (!match) return [bound];
  const port = match[1];
  const external: string[] = [];
  const loopback: string[] = [];
  for (const entries of Object.values(networkInterfaces())) {
    for (const entry of entries ?? []) {
      if (entry.family !== 'IPv4') continue;
      (entry.internal ? loopback : external).push(`tcp://${entry.address}:${port}`);
    }
  }
  return [...external, ...(loopback.length > 0 ? loopback : [`tcp://127.0.0.1:${port}`])];
}

/** The listening line in one line of a node's stdout, or undefined when the line is anything else. */
export function parseListeningLine(line: string): ListeningLine | undefined {
  const text = line.trim();
  if (!text.startsWith('{')) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const record = value as Partial<ListeningLine> | null;
  if (record?.event !== 'listening' || typeof record.address !== 'string') return undefined;
  if (typeof record.pid !== 'number') return undefined;
  const addresses = Array.isArray(record.addresses)
    ? record.addresses.filter((entry): entry is string => typeof entry === 'string')
    : undefined;
  return {
    event: 'listening',
    address: record.address,
    pid: record.pid,
    ...(addresses && { addresses }),
  };
}
