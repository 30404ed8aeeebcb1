// `troupe node`'s process entry: the one place a node process reads its argv, stdin-side pipe and
// exit timer; everything it starts (the endpoint) takes its clock and transport as options.
import { readFile, stat, unlink } from 'node:fs/promises';
import { Socket } from 'node:net';
import { setPriority } from 'node:os';
import { parseArgs } from 'node:util';
import {
  type HandshakeOptions,
  PipeTransport,
  type TcpListenOptions,
  TcpTransport,
  type Transport,
} from '@troupe/transport';
import {
  createHandshake,
  describeHandshake,
  encodeHandshake,
  parseTcpAddress,
} from '@troupe/transport/internal';
import { OUTPUT_FILE_ENV, PARENT_PIPE_ENV, systemParallelism } from '../system/launcher.js';
import { NodeRegistry, nodeName } from '../system/registry.js';
import { processChildren } from './children.js';
import { NodeEndpoint } from './endpoint.js';

export const NODE_USAGE = `usage: troupe node [options]
  --listen pipe|tcp://host:port   where to listen (default: pipe, a socket named after the pid
                                  in the per-user directory)
  --reuse                         stay idle for the next host after a build, and register for reuse
  --low-priority                  lower this process's OS priority
  --task-host                     run as a sidecar task host
  --session NAME                  only hosts of this session match (salt)
  --idle-timeout MS               exit after this long without a host (default 900000)
  --max-idle N                    with --reuse: exit instead of going idle when N reusable nodes of
                                  this user are older than this one (default 1.5 x cores)
  --runtime-version X.Y.Z         present another runtime version (testing)
  --output-file PATH              this node's stdout/stderr file; removed on a clean exit
  --secret-env NAME               read the shared secret (TCP authentication) from this variable
  --secret-file PATH              read the shared secret from this file (not readable by group or others)
  --insecure                      listen on TCP without a secret: anyone who can reach the port can
                                  run tasks here (on loopback, every local user)`;

/**
 * `troupe node`: the process a launcher starts (or a person, by hand). Prints one JSON line
 * `{"event":"listening","address":...}` on stdout when it can be connected to, then serves hosts
 * until it is told to exit or its idle timeout passes.
 */
export async function runNode(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: joinDashValues(argv),
    options: {
      listen: { type: 'string', default: 'pipe' },
      reuse: { type: 'boolean', default: false },
      'low-priority': { type: 'boolean', default: false },
      'task-host': { type: 'boolean', default: false },
      session: { type: 'string' },
      'idle-timeout': { type: 'string', default: String(15 * 60_000) },
      'max-idle': { type: 'string' },
      'runtime-version': { type: 'string' },
      'output-file': { type: 'string' },
      'secret-env': { type: 'string' },
      'secret-file': { type: 'string' },
      insecure: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${NODE_USAGE}\n`);
    return 0;
  }
  const idleTimeoutMs = Number(values['idle-timeout']);
  if (!(idleTimeoutMs > 0 && idleTimeoutMs <= MAX_TIMER_MS)) {
    return usageError(
      `--idle-timeout must be a number of milliseconds from 1 to ${MAX_TIMER_MS}, not ${values['idle-timeout']}`,
    );
  }
  const maxIdle = values['max-idle'] === undefined ? defaultMaxIdle() : Number(values['max-idle']);
  if (!(Number.isInteger(maxIdle) && maxIdle >= 0)) {
    return usageError(`--max-idle must be a whole number of nodes, not ${values['max-idle']}`);
  }
  if (values.listen !== 'pipe') {
    let valid = false;
    try {
      valid = values.listen.startsWith('tcp://') && parseTcpAddress(values.listen) !== undefined;
    } catch {
      // Reported below, with what was given.
    }
    if (!valid)
      return usageError(`--listen must be pipe or tcp://host:port (port 0 to 65535), not ${values.listen}`);
  }
  const runtimeVersion = values['runtime-version'];
  if (runtimeVersion !== undefined && !/^\d+\.\d+\.\d+$/.test(runtimeVersion)) {
    return usageError(`--runtime-version must be major.minor.patch, not ${runtimeVersion}`);
  }
  // SIGTERM/SIGINT mean "exit cleanly" from the first moment, not only once the node listens: a
  // script that reads the listening line and at once sends SIGTERM used to find the node killed by
  // the signal's default action (its socket and registry record left behind) when the signal
  // arrived between the line and the handlers.
  let stopRequested = false;
  let stopEndpoint: (() => void) | undefined;
  const stop = () => {
    stopRequested = true;
    stopEndpoint?.();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  let endpoint: NodeEndpoint | undefined;
  const parent = watchParent(() => {
    // A node nobody has connected to yet, or one that is not kept for reuse, has no one left to
    // serve. A reusable node that served a host stays: outliving its host is what it is for.
    if (!values.reuse || !endpoint || endpoint.state === 'waiting') stop();
  });
  if (values['low-priority']) {
    try {
      setPriority(10);
    } catch (error) {
      log(`could not lower priority: ${(error as Error).message}`);
    }
  }
  const handshake: HandshakeOptions = {
    nodeReuse: values.reuse,
    lowPriority: values['low-priority'],
    taskHost: values['task-host'],
    ...(values.session !== undefined && { session: values.session }),
    ...(values['runtime-version'] !== undefined && { runtimeVersion: values['runtime-version'] }),
  };
  const secret = await readSecret(values['secret-env'], values['secret-file']);
  if (typeof secret === 'object') {
    process.stderr.write(`troupe node: ${secret.error}\n`);
    return 2;
  }
  const pipe = new PipeTransport();
  let transport: Transport;
  let address: string;
  if (values.listen === 'pipe') {
    transport = pipe;
    address = nodeName(process.pid);
  } else if (values.listen.startsWith('tcp://')) {
    // Loopback is shared by every local user, and the handshake's salt is no secret: without a
    // shared secret, whoever reaches the port runs tasks as this user. Only said out loud.
    if (secret === undefined && !values.insecure) {
      process.stderr.write(
        'troupe node: refusing to listen on TCP without a secret (anyone who can reach the port, ' +
          'on loopback every local user, could run tasks here); pass --secret-env NAME or ' +
          '--secret-file PATH, or --insecure to accept that\n',
      );
      return 2;
    }
    if (secret === undefined) {
      log(
        `WARNING: listening on ${values.listen} without a secret (--insecure): anyone who can reach it can run tasks here`,
      );
    }
    transport = new TcpTransport();
    address = values.listen;
  } else {
    process.stderr.write(`troupe node: --listen must be pipe or tcp://host:port, not ${values.listen}\n`);
    return 2;
  }

  const registry = new NodeRegistry(pipe.directory);
  const local = createHandshake(handshake, secret !== undefined);
  const reusable = values.reuse && transport === pipe;
  const record = {
    pid: process.pid,
    address: pipe.pathFor(address),
    handshake: encodeHandshake(local).toString('hex'),
    summary: describeHandshake(local),
    ...(values['output-file'] && { outputFile: values['output-file'] }),
  };
  // The record goes down before the socket listens: a host may connect, use this node and
  // release it for reuse within milliseconds, and the next host must already be able to find it.
  if (reusable) await registry.register(record);
  try {
    endpoint = await NodeEndpoint.start({
      transport,
      idleTimeoutMs,
      children: processChildren(),
      listen: {
        address,
        handshake,
        ...(secret !== undefined && { secret }),
        ...(values.insecure && { insecure: true }),
      } satisfies TcpListenOptions,
    });
  } catch (error) {
    if (reusable) await registry.unregister(process.pid);
    throw error;
  }
  const started = endpoint;
  started.on('log', log);
  started.on('state', (state) => log(`state: ${state}`));
  let restoring: Promise<unknown> = Promise.resolve();
  if (reusable) {
    // A temp cleaner may have removed the directory, with the socket and record, while a host
    // held this node: both are put back as it goes idle, so that the next host finds it.
    started.on('state', (state) => {
      if (state !== 'idle') return;
      restoring = restoring
        .then(() => pipe.restore(started.address))
        .then(() => registry.restore(record))
        .catch((error: Error) => log(`could not put back the socket or record: ${error.message}`))
        .then(() => tooManyIdle(registry, maxIdle))
        .then((older) => {
          if (older === undefined) return;
          log(
            `${older} reusable nodes of this user are older than this one (--max-idle ${maxIdle}): exiting instead of going idle`,
          );
          void started.exit();
        });
    });
  }
  stopEndpoint = () => void started.exit();
  if (stopRequested) stopEndpoint();
  else {
    process.stdout.write(
      `${JSON.stringify({ event: 'listening', address: started.address, pid: process.pid })}\n`,
    );
  }
  await started.exited;
  await restoring;
  parent?.destroy();
  await registry.unregister(process.pid);
  if (values['output-file']) await unlink(values['output-file']).catch(() => {});
  // A host that kept this node's output for itself is gone: nobody will read or remove it.
  else if (parent?.gone() && parent.outputFile) await unlink(parent.outputFile).catch(() => {});
  // A worker's exit code is its job's result.
  const code = started.exitCode ?? 0;
  // A task or job that ignored its cancellation may still hold the event loop open (a timer, a
  // socket, a loop of chunks): the host has been told everything, and is waiting for this process
  // to end (or to kill it), so a grace period later it ends rather than linger until killed.
  setTimeout(() => process.exit(code), 1_000).unref();
  return code;
}

/**
 * Calls `gone` when the host that launched this node ends: its launcher hands the node a pipe
 * (on the descriptor `PARENT_PIPE_ENV` names) that nothing is written to, and end of file on it
 * means the host process is gone. Nothing happens for a node started any other way (by hand).
 */
function watchParent(
  onGone: () => void,
): { destroy(): void; gone(): boolean; outputFile: string | undefined } | undefined {
  const fd = Number(process.env[PARENT_PIPE_ENV]);
  if (!Number.isInteger(fd) || fd < 3) return undefined;
  const outputFile = process.env[OUTPUT_FILE_ENV];
  // Not passed on to what tasks start: the pipe and the output file are this node's.
  delete process.env[PARENT_PIPE_ENV];
  delete process.env[OUTPUT_FILE_ENV];
  let gone = false;
  let pipe: Socket;
  try {
    pipe = new Socket({ fd, readable: true, writable: false });
  } catch {
    return undefined;
  }
  const end = () => {
    if (gone) return;
    gone = true;
    onGone();
  };
  pipe.once('end', end);
  pipe.once('close', end);
  pipe.once('error', end);
  pipe.resume();
  // The pipe must not keep the node alive once it has exited.
  pipe.unref();
  return { destroy: () => pipe.destroy(), gone: () => gone, outputFile };
}

/** Timers hold at most a signed 32-bit count of milliseconds; Node fires a longer one at once. */
const MAX_TIMER_MS = 2_147_483_647;

/** A mistake in the command line: one line, no stack, exit code 2. */
function usageError(message: string): number {
  process.stderr.write(`troupe node: ${message} (see troupe node --help)\n`);
  return 2;
}

/**
 * A command-line parse error (an unknown option, a missing value) as the one line to print, or
 * undefined for any other error.
 */
export function parseErrorMessage(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS_')) return undefined;
  return (error as Error).message.replace(/\s*\n\s*/g, ' ');
}

/** Options of `troupe node` that take a value, which may start with a dash (`--idle-timeout -5`). */
const VALUE_OPTIONS = new Set([
  '--listen',
  '--session',
  '--idle-timeout',
  '--runtime-version',
  '--output-file',
  '--secret-env',
  '--secret-file',
]);

/**
 * `--option -value` as `--option=-value`: parseArgs takes a value that starts with a dash for a
 * forgotten value, and the user would hear about ambiguity rather than what is wrong with `-5`.
 */
function joinDashValues(argv: readonly string[]): string[] {
  const joined: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const next = argv[i + 1];
    if (VALUE_OPTIONS.has(arg) && next !== undefined && /^-[^-]/.test(next)) {
      joined.push(`${arg}=${next}`);
      i++;
    } else joined.push(arg);
  }
  return joined;
}

/**
 * The shared secret, from the environment or a file (never from argv, which every local user can
 * read in the process table), or an error to print. The variable is removed once read, so the
 * tasks this node runs, and what they spawn, do not inherit it.
 */
async function readSecret(
  variable: string | undefined,
  file: string | undefined,
): Promise<string | undefined | { error: string }> {
  if (variable !== undefined && file !== undefined)
    return { error: '--secret-env and --secret-file are mutually exclusive' };
  if (variable !== undefined) {
    const value = process.env[variable];
    if (!value) return { error: `--secret-env ${variable}: the variable is not set or empty` };
    delete process.env[variable];
    return value;
  }
  if (file === undefined) return undefined;
  let content: string;
  try {
    const mode = (await stat(file)).mode;
    if (mode & 0o077) {
      return {
        error: `--secret-file ${file}: readable or writable by group or others (mode ${(mode & 0o777).toString(8)}); chmod 600 it`,
      };
    }
    content = await readFile(file, 'utf8');
  } catch (error) {
    return {
      error: `--secret-file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    };
  }
  // A trailing newline is what an editor or `echo` leaves, not part of the secret.
  const value = content.replace(/\r?\n$/, '');
  if (!value) return { error: `--secret-file ${file}: the file is empty` };
  return value;
}

function log(message: string): void {
  process.stderr.write(`[troupe node ${process.pid}] ${message}\n`);
}

/** MSBuild's rule for the nodes a user keeps around: one and a half per core. */
function defaultMaxIdle(): number {
  return Math.ceil(1.5 * systemParallelism());
}

/**
 * How many of this user's reusable nodes are older than this one, when they are `maxIdle` or
 * more (it is one too many, and should exit rather than idle), else undefined. Every node asks
 * this after it has registered, so two going idle at once both see each other and agree on the
 * order: the oldest `maxIdle` stay, whatever the hosts that made them. Busy nodes count: they
 * will be idle soon, and the older ones stay.
 */
async function tooManyIdle(registry: NodeRegistry, maxIdle: number): Promise<number | undefined> {
  const nodes = await registry.list(0);
  const order = nodes
    .sort((a, b) => a.registeredAtMs - b.registeredAtMs || a.pid - b.pid)
    .map((node) => node.pid);
  const older = order.indexOf(process.pid);
  return older >= maxIdle ? older : undefined;
}
