import { unlink } from 'node:fs/promises';
import { setPriority } from 'node:os';
import { parseArgs } from 'node:util';
import {
  createHandshake,
  describeHandshake,
  encodeHandshake,
  type HandshakeOptions,
  PipeTransport,
  TcpTransport,
  type Transport,
} from '@troupe/transport';
import { OUTPUT_FILE_ENV, PARENT_PIPE_ENV } from '../nodes/launcher.js';
import { NodeRegistry, nodeName } from '../nodes/registry.js';
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
  --runtime-version X.Y.Z         present another runtime version (testing)
  --output-file PATH              this node's stdout/stderr file; removed on a clean exit
  --secret-env NAME               read a shared secret (TCP authentication) from this variable`;

/**
 * `troupe node`: the process a launcher starts (or a person, by hand). Prints one JSON line
 * `{"event":"listening","address":...}` on stdout when it can be connected to, then serves hosts
 * until it is told to exit or its idle timeout passes.
 */
export async function runNode(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      listen: { type: 'string', default: 'pipe' },
      reuse: { type: 'boolean', default: false },
      'low-priority': { type: 'boolean', default: false },
      'task-host': { type: 'boolean', default: false },
      session: { type: 'string' },
      'idle-timeout': { type: 'string', default: String(15 * 60_000) },
      'runtime-version': { type: 'string' },
      'output-file': { type: 'string' },
      'secret-env': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${NODE_USAGE}\n`);
    return 0;
  }
  const idleTimeoutMs = Number(values['idle-timeout']);
  if (!Number.isFinite(idleTimeoutMs) || idleTimeoutMs <= 0) {
    process.stderr.write(`troupe node: --idle-timeout must be a positive number of milliseconds\n`);
    return 2;
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
  const secret = values['secret-env'] ? process.env[values['secret-env']] : undefined;
  const pipe = new PipeTransport();
  let transport: Transport;
  let address: string;
  if (values.listen === 'pipe') {
    transport = pipe;
    address = nodeName(process.pid);
  } else if (values.listen.startsWith('tcp://')) {
    transport = new TcpTransport();
    address = values.listen;
  } else {
    process.stderr.write(`troupe node: --listen must be pipe or tcp://host:port, not ${values.listen}\n`);
    return 2;
  }

  const registry = new NodeRegistry(pipe.directory);
  const local = createHandshake(handshake, secret !== undefined);
  const reusable = values.reuse && transport === pipe;
  // The record goes down before the socket listens: a host may connect, use this node and
  // release it for reuse within milliseconds, and the next host must already be able to find it.
  if (reusable) {
    await registry.register({
      pid: process.pid,
      address: pipe.pathFor(address),
      handshake: encodeHandshake(local).toString('hex'),
      summary: describeHandshake(local),
      ...(values['output-file'] && { outputFile: values['output-file'] }),
    });
  }
  try {
    endpoint = await NodeEndpoint.start({
      transport,
      idleTimeoutMs,
      children: processChildren(),
      listen: { address, handshake, ...(secret !== undefined && { secret }) },
    });
  } catch (error) {
    if (reusable) await registry.unregister(process.pid);
    throw error;
  }
  const started = endpoint;
  started.on('log', log);
  started.on('state', (state) => log(`state: ${state}`));
  stopEndpoint = () => void started.exit();
  if (stopRequested) stopEndpoint();
  else {
    process.stdout.write(
      `${JSON.stringify({ event: 'listening', address: started.address, pid: process.pid })}\n`,
    );
  }
  await started.exited;
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
 * Calls `gone` when the host that launched this node ends: its launcher hands the node a pipe on
 * stdin that nothing is written to, and end of file on it means the host process is gone.
 * Nothing happens for a node started any other way (by hand, stdin a terminal or /dev/null).
 */
function watchParent(
  onGone: () => void,
): { destroy(): void; gone(): boolean; outputFile: string | undefined } | undefined {
  if (process.env[PARENT_PIPE_ENV] !== '0') return undefined;
  const outputFile = process.env[OUTPUT_FILE_ENV];
  // Not passed on to what tasks start: their stdin is not this pipe, nor their output this file.
  delete process.env[PARENT_PIPE_ENV];
  delete process.env[OUTPUT_FILE_ENV];
  let gone = false;
  const stdin = process.stdin;
  const end = () => {
    if (gone) return;
    gone = true;
    onGone();
  };
  stdin.once('end', end);
  stdin.once('error', end);
  stdin.resume();
  // The pipe must not keep the node alive once it has exited.
  (stdin as { unref?: () => void }).unref?.();
  return { destroy: () => stdin.destroy(), gone: () => gone, outputFile };
}

function log(message: string): void {
  process.stderr.write(`[troupe node ${process.pid}] ${message}\n`);
}
