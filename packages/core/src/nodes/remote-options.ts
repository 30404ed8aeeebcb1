// Remote nodes' options and the rules they are checked by; the default node command is this
// Node.js on core's own bundled node entry or CLI (node:fs), right for machines with the same
// image as the host's.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Clock, RandomSource, TcpTransport } from '@troupe/transport';
import {
  boolean,
  checkRequired,
  checkShape,
  clock,
  duration,
  integer,
  invalid,
  isRecord,
  join,
  nonEmptyString,
  random,
  type Shape,
  shape,
  string,
  stringArray,
  withMethods,
} from '../options.js';
import type { Launcher } from '../system/launcher.js';
import type { ShutdownTimeouts } from './process-options.js';

/** One machine reached through a launcher prefix (`['ssh', 'build-02', '--']`). */
export interface RemoteLaunch {
  /** The command that runs what follows it on the other machine: ssh, `kubectl exec -i`, srun, `ip netns exec`. */
  prefix: string[];
  /**
   * The `troupe` command there, before `node` and its options. Default: this machine's own
   * (process.execPath and @troupe/core's CLI), right for identical images and namespaces.
   */
  command?: string[];
  /**
   * The host name or IP this host dials (the node's port is its own, from its listening line), or
   * a whole `tcp://host:port` for a port forwarded by the launcher. Default: the `addresses` the
   * node printed, in order.
   */
  address?: string;
  /** How many nodes to start on that machine. Default 1. */
  nodes?: number;
  /** The node's working directory there (`troupe node --cwd`), where it resolves task packages. */
  cwd?: string;
  /** More `troupe node` options for that machine (e.g. `--tls-cert`, `--low-priority`). */
  args?: string[];
}

/** TLS for the host's side of every connection: file paths or PEM text. */
export interface RemoteTls {
  /** The CA the nodes' certificates are checked against. */
  ca?: string;
  /** This host's client certificate and key, for nodes that require one (`--tls-ca`). */
  cert?: string;
  key?: string;
  /** The name the node's certificate must carry. Default: the host dialled (`localhost` for loopback). */
  servername?: string;
}

export type RemoteSecret = string | { env: string } | { file: string };

export interface RemoteNodeProviderOptions {
  /** Machines to start nodes on through a launcher prefix. */
  launch?: RemoteLaunch[];
  /** Nodes started by anything else (systemd, Kubernetes) with `--reuse`: `tcp://198.18.0.2:7400`. */
  endpoints?: string[];
  /**
   * The shared secret. Default for `launch`: a fresh random one per provider, handed to each node
   * on its stdin (`--secret-stdin`). Endpoints need one given (or TLS client certificates, or `insecure`).
   */
  secret?: RemoteSecret;
  /** Connect without a secret (endpoints started with `--insecure`; launched nodes get `--insecure`). */
  insecure?: boolean;
  tls?: RemoteTls;
  /** From launch to a connected node: the listening line and the connection. Default 30 s. */
  connectTimeoutMs?: number;
  /** Present another runtime version in the handshake (tests of version mismatch). */
  runtimeVersion?: string;
  shutdown?: ShutdownTimeouts;
  launcher?: Launcher;
  transport?: TcpTransport;
  clock?: Clock;
  random?: RandomSource;
}

// The build's bundle (scripts/bundle.mjs), from dist/nodes/ or from a chunk in dist/bundle/ alike.
const bundlePath = fileURLToPath(new URL('../bundle/process-node.js', import.meta.url));
const binPath = fileURLToPath(new URL('../bin/troupe.js', import.meta.url));

/**
 * This machine's own `troupe` command: what a node on an identical machine image runs. The bundled
 * node entry where the build made one (it starts in a fraction of the CLI's time), else the CLI.
 */
export function defaultTroupeCommand(): string[] {
  return existsSync(bundlePath) ? [process.execPath, bundlePath] : [process.execPath, binPath];
}

/** Whether a TLS option is PEM text rather than a file path. */
export function isPem(value: string): boolean {
  return value.includes('-----BEGIN ');
}

const launchShape: Shape<RemoteLaunch> = {
  prefix: stringArray,
  command: (value, path) => {
    stringArray(value, path);
    if ((value as string[]).length === 0) throw invalid(path, 'a non-empty array of strings', value);
  },
  address: nonEmptyString,
  nodes: integer(1),
  cwd: nonEmptyString,
  args: stringArray,
};

export const remoteShape: Shape<RemoteNodeProviderOptions> = {
  launch: (value, path) => {
    if (!Array.isArray(value)) throw invalid(path, 'an array of { prefix, command?, ... }', value);
    value.forEach((entry, index) => {
      const at = `${path}[${index}]`;
      checkShape(entry, launchShape, at);
      checkRequired(entry as Record<string, unknown>, ['prefix'], at, 'set');
    });
  },
  endpoints: (value, path) => {
    stringArray(value, path);
    for (const [index, endpoint] of (value as string[]).entries())
      if (!/^tcp:\/\/(\[[^\]]+\]|[^:/]+):\d{1,5}$/.test(endpoint))
        throw invalid(`${path}[${index}]`, 'tcp://host:port', endpoint);
  },
  secret: (value, path) => {
    if (typeof value === 'string') {
      if (value.length === 0) throw invalid(path, 'a non-empty string, { env } or { file }', value);
      return;
    }
    if (!isRecord(value) || Object.keys(value).length !== 1)
      throw invalid(path, 'a non-empty string, { env } or { file }', value);
    checkShape(value, { env: nonEmptyString, file: nonEmptyString }, path);
  },
  insecure: boolean,
  tls: shape({ ca: string, cert: string, key: string, servername: string }),
  connectTimeoutMs: duration(1),
  runtimeVersion: (value, path) => {
    if (typeof value !== 'string' || !/^\d+\.\d+\.\d+$/.test(value))
      throw invalid(path, 'major.minor.patch', value);
  },
  shutdown: (value, path) =>
    checkShape(
      value,
      {
        drainTimeoutMs: duration(0),
        exitPollStartMs: duration(1),
        exitPollMaxMs: duration(1),
        exitTimeoutMs: duration(0),
        killTimeoutMs: duration(0),
      },
      path,
    ),
  launcher: withMethods('a Launcher', ['launch', 'attach']),
  transport: withMethods('a TcpTransport', ['connect', 'listen']),
  clock,
  random,
};

/** The combinations the shape cannot see: something to start, and a way to authenticate endpoints. */
export function checkRemote(options: RemoteNodeProviderOptions, path: string): void {
  const launched = options.launch?.length ?? 0;
  const endpoints = options.endpoints?.length ?? 0;
  if (launched + endpoints === 0)
    throw invalid(join(path, 'launch'), 'at least one launch entry or endpoint', options.launch);
  if (endpoints > 0 && options.secret === undefined && !options.insecure && !options.tls?.cert)
    throw invalid(
      join(path, 'secret'),
      'a secret shared with the endpoints (or tls.cert for mutual TLS, or insecure: true)',
      options.secret,
    );
  if (options.insecure && options.secret !== undefined)
    throw invalid(join(path, 'insecure'), 'left out when a secret is given', options.insecure);
}
