// `troupe node`'s process entry: the one place a node process reads its argv, stdin-side pipe and
// exit timer; everything it starts (the endpoint) takes its clock and transport as options.
// Over 400 lines because it is the command line: every flag's check and its one clear error
// (listen, secrets from env, file or stdin, TLS files, idle caps) sit beside the start they guard;
// the listening line and the TCP salt are in listening.ts, the endpoint in endpoint.ts.
import { readFile, stat, unlink } from 'node:fs/promises';
import { Socket } from 'node:net';
import { setPriority } from 'node:os';
import type { TlsOptions } from 'node:tls';
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
import { type ListeningLine, reachableAddresses, tcpSalt } from './listening.js';

export const NODE_USAGE = `usage: troupe node [options]
  --listen pipe|tcp://host:port   where to listen (default: pipe, a socket named after the pid
                                  in the per-user directory)
  --cwd DIR                       work in this directory (task packages resolve from here)
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
  --secret-stdin                  read the shared secret from the first line of stdin; from then on
                                  the end of stdin ends the node (a launcher's session holds it)
  --tls-cert FILE --tls-key FILE  serve TLS with this certificate and key (PEM files)
  --tls-ca FILE                   with TLS: require client certificates signed by this CA (mutual TLS)
  --insecure                      listen on TCP without a secret: anyone who can reach the port can
                                  run tasks here (on loopback, every local user)`;

/**
 * `troupe node`: the process a launcher starts (or a person, by hand). Prints one JSON line
 * `{"event":"listening","address":...}` on stdout when it can be connected to, then serves hosts
 * until it is told to exit or its idle timeout passes. `listening` is called once the line is out
 * (the process entry starts loading the door then, while the host connects).
 */
export async function runNode(argv: string[], hooks: { listening?: () => void } = {}): Promise<number> {
  const { values } = parseArgs({
    args: joinDashValues(argv),
    options: {
      listen: { type: 'string', default: 'pipe' },
      cwd: { type: 'string' },
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
      'secret-stdin': { type: 'boolean', default: false },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'tls-ca': { type: 'string' },
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
  if (values.cwd !== undefined) {
    try {
      process.chdir(values.cwd);
    } catch (error) {
      return usageError(
        `--cwd ${values.cwd}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      );
    }
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
  const handshake: HandshakeOptions & { salt?: Uint8Array } = {
    nodeReuse: values.reuse,
    lowPriority: values['low-priority'],
    taskHost: values['task-host'],
    ...(values.session !== undefined && { session: values.session }),
    ...(values['runtime-version'] !== undefined && { runtimeVersion: values['runtime-version'] }),
  };
  const secret = values['secret-stdin']
    ? await readStdinSecret(values['secret-env'], values['secret-file'])
    : await readSecret(values['secret-env'], values['secret-file']);
  if (typeof secret === 'object') {
    process.stderr.write(`troupe node: ${secret.error}\n`);
    return 2;
  }
  if (values['secret-stdin']) {
    // The launcher's session (ssh, kubectl exec, ip netns exec) holds the node: when it ends, so
    // does stdin, and a node nobody can reach any more must not linger on a machine.
    const input = process.stdin;
    input.once('end', () => {
      log('stdin ended (the launcher session is gone): exiting');
      stop();
    });
    input.resume();
  }
  const tls = await readTls(values['tls-cert'], values['tls-key'], values['tls-ca']);
  if (tls && 'error' in tls) {
    process.stderr.write(`troupe node: ${tls.error}\n`);
    return 2;
  }
  if (tls && values.listen === 'pipe') return usageError('--tls-cert needs --listen tcp://host:port');
  const pipe = new PipeTransport();
  let transport: Transport;
  let address: string;
  if (values.listen === 'pipe') {
    transport = pipe;
    address = nodeName(process.pid);
  } else if (values.listen.startsWith('tcp://')) {
    // Loopback is shared by every local user, and the handshake's salt is no secret: without a
    // shared secret, whoever reaches the port runs tasks as this user. Only said out loud.
    const clientCertificates = tls?.requestCert === true;
    if (secret === undefined && !clientCertificates && !values.insecure) {
      process.stderr.write(
        'troupe node: refusing to listen on TCP without a secret (anyone who can reach the port, ' +
          'on loopback every local user, could run tasks here); pass --secret-env NAME or ' +
          '--secret-file PATH, or --insecure to accept that\n',
      );
      return 2;
    }
    if (secret === undefined && !clientCertificates) {
      log(
        `WARNING: listening on ${values.listen} without a secret (--insecure): anyone who can reach it can run tasks here`,
      );
    }
    transport = new TcpTransport();
    address = values.listen;
    handshake.salt = tcpSalt(values.session);
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
        ...(tls && { tls }),
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
    const line: ListeningLine = { event: 'listening', address: started.address, pid: process.pid };
    if (transport !== pipe) line.addresses = reachableAddresses(started.address);
    process.stdout.write(`${JSON.stringify(line)}\n`);
    hooks.listening?.();
  }
  await started.exited;
  await restoring;
  parent?.destroy();
  if (values['secret-stdin']) process.stdin.destroy();
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
  '--cwd',
  '--session',
  '--idle-timeout',
  '--runtime-version',
  '--output-file',
  '--secret-env',
  '--secret-file',
  '--tls-cert',
  '--tls-key',
  '--tls-ca',
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

/**
 * The shared secret from the first line of stdin (`--secret-stdin`): what a launcher prefix can
 * hand over without argv or a file on the remote machine. The rest of stdin is left unread.
 */
async function readStdinSecret(
  variable: string | undefined,
  file: string | undefined,
): Promise<string | { error: string }> {
  if (variable !== undefined || file !== undefined)
    return { error: '--secret-stdin, --secret-env and --secret-file are mutually exclusive' };
  const input = process.stdin;
  let text = '';
  const line = await new Promise<string | undefined>((resolve) => {
    const onData = (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const end = text.indexOf('\n');
      // A secret is short: a stranger's endless line is not buffered for ever.
      if (end < 0 && text.length < 64 * 1024) return;
      input.off('data', onData);
      input.off('end', onEnd);
      input.pause();
      // What followed the line is not the secret's; a launcher writes nothing else.
      resolve(end < 0 ? undefined : text.slice(0, end));
    };
    const onEnd = () => {
      input.off('data', onData);
      resolve(text.length > 0 ? text : undefined);
    };
    input.on('data', onData);
    input.once('end', onEnd);
  });
  const secret = line?.replace(/\r$/, '');
  if (!secret) return { error: '--secret-stdin: stdin ended before a secret line (or the line was empty)' };
  return secret;
}

/** `--tls-cert`/`--tls-key`/`--tls-ca` as server TLS options, or an error to print. */
async function readTls(
  cert: string | undefined,
  key: string | undefined,
  ca: string | undefined,
): Promise<TlsOptions | { error: string } | undefined> {
  if (cert === undefined && key === undefined && ca === undefined) return undefined;
  if (cert === undefined || key === undefined)
    return { error: '--tls-cert and --tls-key go together (and --tls-ca needs them both)' };
  const read = async (option: string, path: string) => {
    try {
      return await readFile(path);
    } catch (error) {
      throw new Error(
        `${option} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      );
    }
  };
  try {
    return {
      cert: await read('--tls-cert', cert),
      key: await read('--tls-key', key),
      ...(ca !== undefined && {
        ca: await read('--tls-ca', ca),
        // Mutual TLS: a client without a certificate signed by this CA never gets a handshake.
        requestCert: true,
        rejectUnauthorized: true,
      }),
    };
  } catch (error) {
    return { error: (error as Error).message };
  }
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
