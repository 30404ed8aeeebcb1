// Starting and reaching remote nodes: a node launched through a prefix (ssh, kubectl exec) via the
// injected Launcher, its listening line read from the launcher's stdout, then dialled over the
// injected TCP transport; or a static endpoint, dialled. Its output file goes in the per-user
// directory (node:fs), beside process nodes'.
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import {
  AuthenticationError,
  type Clock,
  ConnectError,
  type HandshakeOptions,
  type Link,
  type RandomSource,
  type TcpTransport,
} from '@troupe/transport';
import { ensurePrivateDirectory } from '@troupe/transport/internal';
import { type ListeningLine, parseListeningLine, tcpSalt } from '../endpoint/listening.js';
import { NodeClosedError, RemoteNodeError } from '../errors.js';
import type { IdSource } from '../ids.js';
import { type Launcher, type NodeProcess, systemIdentity } from '../system/launcher.js';
import { NodeContext } from './context.js';
import { waitForExit } from './process-wait.js';
import type { AcquireOptions } from './provider.js';
import { defaultTroupeCommand, type RemoteLaunch, type RemoteNodeProviderOptions } from './remote-options.js';

/** What every remote launch and dial of one provider shares, made once from its options. */
export interface RemoteSetup {
  readonly options: RemoteNodeProviderOptions;
  readonly launcher: Launcher;
  readonly transport: TcpTransport;
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly ids: IdSource;
  /** Where launched nodes' output files go (the per-user directory). */
  readonly outputDirectory: string;
  readonly connectTimeoutMs: number;
}

/** The secret and TLS options, read once per provider (an env variable, files). */
export interface RemoteCredentials {
  readonly secret: string | undefined;
  readonly tls: ConnectionOptions | undefined;
}

/** A launched node as the provider keeps it: its context, the launcher process, its output file. */
export interface LaunchedNode {
  readonly node: NodeContext;
  readonly launched: NodeProcess;
  readonly outputFile: string;
}

/** A launch entry's location, as people read it: its prefix joined with spaces. */
export function launchLocation(entry: RemoteLaunch): string {
  return entry.prefix.join(' ');
}

function handshake(options: RemoteNodeProviderOptions, nodeReuse: boolean): HandshakeOptions {
  return {
    nodeReuse,
    lowPriority: false,
    taskHost: false,
    salt: tcpSalt(),
    ...(options.runtimeVersion !== undefined && { runtimeVersion: options.runtimeVersion }),
  };
}

/** Why a node did not accept this host, in words: a busy static endpoint says so. */
function refusal(error: Error): string {
  if (error instanceof NodeClosedError && /\(Busy\)/.test(error.message))
    return 'it is serving another host (busy); a static endpoint serves one host at a time';
  if (error instanceof AuthenticationError)
    return `wrong secret: the node and this host do not share one (${error.message})`;
  return error.message.split('\n')[0] ?? String(error);
}

/**
 * Starts one node through `entry`'s prefix and connects to it. The secret goes to the node's
 * stdin, never its argv; the node prints its listening line on the launcher's stdout; the host
 * dials `entry.address` or the addresses printed. Rejects with a `RemoteNodeError` naming the node,
 * the prefix and why, after killing the launcher's tree.
 */
export async function launchRemote(
  setup: RemoteSetup,
  credentials: RemoteCredentials,
  entry: RemoteLaunch,
  { signal, created, heartbeat }: AcquireOptions,
): Promise<LaunchedNode> {
  const { clock, options } = setup;
  signal?.throwIfAborted();
  const location = launchLocation(entry);
  const id = setup.ids.next('node');
  await ensurePrivateDirectory(setup.outputDirectory);
  const outputFile = join(setup.outputDirectory, `troupe-remote-${setup.random.id(10)}.log`);
  let heard!: (line: ListeningLine) => void;
  const listening = new Promise<ListeningLine>((resolve) => {
    heard = resolve;
  });
  const command = entry.command ?? defaultTroupeCommand();
  const nodeArgs = [
    ...command,
    'node',
    '--listen',
    'tcp://0.0.0.0:0',
    ...(credentials.secret !== undefined ? ['--secret-stdin'] : ['--insecure']),
    ...(entry.cwd !== undefined ? ['--cwd', entry.cwd] : []),
    ...(entry.args ?? []),
  ];
  const [launcherCommand, ...prefixArgs] = entry.prefix;
  let launched: NodeProcess;
  try {
    launched = setup.launcher.launch({
      command: launcherCommand ?? nodeArgs[0]!,
      args: launcherCommand === undefined ? nodeArgs.slice(1) : [...prefixArgs, ...nodeArgs],
      env: { MSGPACKR_NATIVE_ACCELERATION_DISABLED: 'true', ...process.env },
      outputFile,
      // Held open: the launcher's session (and so the node) lasts as long as this host holds it.
      input: credentials.secret !== undefined ? `${credentials.secret}\n` : '',
      onOutputLine: (line) => {
        const parsed = parseListeningLine(line);
        if (parsed) heard(parsed);
      },
    });
  } catch (error) {
    await unlink(outputFile).catch(() => {});
    throw new RemoteNodeError(id, location, `the launcher could not start: ${(error as Error).message}`, '', {
      cause: error,
    });
  }
  let line: ListeningLine | undefined;
  const node = new NodeContext({
    id,
    kind: 'remote',
    location,
    process: launched,
    nodeReuse: false,
    // Across a network nothing tells a host that its node is gone, nor a node that its host is:
    // both sides ping, and each drops a peer silent for the timeout (docs/protocol.md).
    heartbeat: heartbeat ?? {},
    clock,
    ids: setup.ids,
    connect: async (onLink) => {
      line = await untilListening(setup, launched, listening, signal);
      return dial(setup, credentials, dialAddresses(entry, line), handshake(options, false), onLink);
    },
  });
  created?.(node, 'launched');
  try {
    await node.start(systemIdentity().pid);
    // The launcher's pid is the host's to kill; the node's own (on its machine) is the one people want.
    if (line) node.pid = line.pid;
    return { node, launched, outputFile };
  } catch (error) {
    launched.endInput?.();
    launched.killTree();
    await waitForExit(clock, launched, options.shutdown?.killTimeoutMs ?? 5_000);
    const tail = launched.outputTail(2048);
    await unlink(outputFile).catch(() => {});
    const why = error instanceof LaunchFailure ? error.message : refusal(error as Error);
    throw new RemoteNodeError(id, location, why, tail, { cause: error });
  }
}

/** Why a launched node never printed its listening line: the launcher's own story, without the tail. */
class LaunchFailure extends Error {}

/** The listening line, or a `LaunchFailure`: the launcher exited, or time ran out. */
async function untilListening(
  setup: RemoteSetup,
  launched: NodeProcess,
  listening: Promise<ListeningLine>,
  signal: AbortSignal | undefined,
): Promise<ListeningLine> {
  const { clock, connectTimeoutMs } = setup;
  let timer: ReturnType<Clock['setTimeout']> | undefined;
  try {
    return await Promise.race([
      listening,
      new Promise<never>((_, reject) => {
        launched.onExit((exit) =>
          reject(
            new LaunchFailure(
              launched.pid <= 0
                ? `the launcher could not be started (${launched.outputTail(512).split('\n')[0]})`
                : `the launcher ${exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`} before the node printed its listening line`,
            ),
          ),
        );
        timer = clock.setTimeout(
          () => reject(new LaunchFailure(`no listening line within ${connectTimeoutMs} ms`)),
          connectTimeoutMs,
        );
        signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
      }),
    ]);
  } finally {
    if (timer !== undefined) clock.clearTimeout(timer);
  }
}

/** Where to dial a launched node: `entry.address` with the node's port, or what it printed. */
function dialAddresses(entry: RemoteLaunch, line: ListeningLine): string[] {
  const port = /:(\d+)$/.exec(line.address)?.[1];
  if (entry.address !== undefined) {
    if (entry.address.startsWith('tcp://')) return [entry.address];
    const host = entry.address.includes(':') ? `[${entry.address}]` : entry.address;
    return [`tcp://${host}:${port}`];
  }
  return line.addresses && line.addresses.length > 0 ? line.addresses : [line.address];
}

/**
 * Connects to the first address that answers. An address that cannot be reached (another
 * namespace's interface, a firewall) is skipped; a node that answers and refuses (a wrong secret,
 * a version mismatch) ends the search: the next address is the same node.
 */
async function dial(
  setup: RemoteSetup,
  credentials: RemoteCredentials,
  addresses: readonly string[],
  handshakeOptions: HandshakeOptions,
  onLink: (link: Link) => void,
): Promise<Link> {
  const failures: string[] = [];
  for (const address of addresses) {
    try {
      return await setup.transport.connect(address, {
        handshake: handshakeOptions,
        clock: setup.clock,
        connectTimeoutMs: Math.min(setup.connectTimeoutMs, 5_000),
        ...(credentials.secret !== undefined && { secret: credentials.secret }),
        ...(credentials.tls && { tls: credentials.tls }),
        closeTimeoutMs: 5_000,
        onLink,
      });
    } catch (error) {
      if (!(error instanceof ConnectError)) throw error;
      failures.push(`${address}: ${error.message}`);
    }
  }
  throw new LaunchFailure(`none of its addresses answered (${failures.join('; ')})`);
}

/**
 * Dials a static endpoint (a node started elsewhere with `--reuse`). Rejects with a
 * `RemoteNodeError` naming the endpoint and why: busy with another host, a wrong secret...
 */
export async function dialEndpoint(
  setup: RemoteSetup,
  credentials: RemoteCredentials,
  endpoint: string,
  { created, heartbeat }: AcquireOptions,
  incarnation = 1,
): Promise<NodeContext> {
  const node = new NodeContext({
    id: setup.ids.next('node'),
    kind: 'remote',
    location: endpoint,
    nodeReuse: true,
    heartbeat: heartbeat ?? {},
    incarnation,
    clock: setup.clock,
    ids: setup.ids,
    connect: (onLink) => dial(setup, credentials, [endpoint], handshake(setup.options, true), onLink),
  });
  created?.(node, 'reused');
  try {
    await node.start(systemIdentity().pid);
    return node;
  } catch (error) {
    throw new RemoteNodeError(node.id, endpoint, refusal(error as Error), '', { cause: error });
  }
}
