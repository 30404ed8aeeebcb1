// Launching process nodes for real, through the injected Launcher: it also removes the output
// files and stale sockets launches leave (node:fs) and gives a node the host's environment.
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ConnectError, type Link } from '@troupe/transport';
import { ensurePrivateDirectory } from '@troupe/transport/internal';
import { type NodeExit, NodeLaunchError } from '../errors.js';
import { type NodeProcess, systemIdentity } from '../system/launcher.js';
import { nodeName } from '../system/registry.js';
import { NodeContext } from './context.js';
import { closeTimeoutMs, defaultNodeCommand, type ProcessNodeSetup } from './process-options.js';
import { sleep, waitForExit } from './process-wait.js';
import type { AcquireOptions } from './provider.js';

/** The pause before the second launch of a node; it doubles for each one after. */
const LAUNCH_PAUSE_FIRST_MS = 50;
/** The longest pause between launches: ten attempts take under 6 s of pauses. */
const LAUNCH_PAUSE_MAX_MS = 1_000;

/**
 * Starts one node process and connects to it, retried with back-off up to `launchAttempts` times;
 * `created` hears of each attempt's node context (`AcquireOptions`).
 * `started` hears of the node the moment it accepted this host, with the output file it writes
 * to (the provider keeps and removes that file). A node that fails to start is killed and its
 * files removed before the next attempt; after the last, a `NodeLaunchError` tells how it ended.
 */
export async function launchNode(
  setup: ProcessNodeSetup,
  { signal, created }: AcquireOptions,
  started: (node: NodeContext, outputFile: string) => void,
): Promise<NodeContext> {
  const { options, transport } = setup;
  const attempts = options.launchAttempts ?? 10;
  let pause = LAUNCH_PAUSE_FIRST_MS;
  let last: { error: Error; exit: NodeExit | undefined; tail: string } | undefined;
  let attempt = 0;
  while (attempt < attempts) {
    signal?.throwIfAborted();
    if (attempt > 0) {
      // Back-off: a node that cannot start now (a loaded machine, a resource limit) may start in
      // a moment, and one that never starts must not be relaunched as fast as the OS allows.
      await sleep(setup.clock, pause);
      pause = Math.min(pause * 2, LAUNCH_PAUSE_MAX_MS);
      signal?.throwIfAborted();
    }
    attempt++;
    try {
      // A first run finds no directory, and a temp cleaner may remove it at any time: checked
      // before each launch, since the node's output file goes there before the node does.
      await ensurePrivateDirectory(transport.directory);
    } catch (error) {
      // Retrying cannot make a directory safe.
      throw new NodeLaunchError(
        `could not start a node: ${(error as Error).message}`,
        attempt,
        undefined,
        '',
        {
          cause: error,
        },
      );
    }
    const outputFile = join(transport.directory, `troupe-launch-${setup.random.id(10)}.log`);
    let launched: NodeProcess;
    try {
      launched = spawnNode(setup, outputFile);
    } catch (error) {
      // The launcher itself failed (its output file, a spawn that threw): an attempt like any other.
      last = { error: error as Error, exit: undefined, tail: '' };
      await unlink(outputFile).catch(() => {});
      continue;
    }
    const node = new NodeContext({
      id: setup.ids.next('node'),
      kind: 'process',
      process: launched,
      nodeReuse: setup.reuse,
      clock: setup.clock,
      ids: setup.ids,
      connect: (onLink) => connectLaunched(setup, launched, onLink),
    });
    created?.(node, 'launched');
    try {
      await node.start(systemIdentity().pid);
      started(node, outputFile);
      return node;
    } catch (error) {
      launched.killTree();
      await waitForExit(setup.clock, launched, options.shutdown?.killTimeoutMs ?? 5_000);
      last = {
        error: error as Error,
        exit: launched.exit(),
        // A process that never started has no output; its launch error is the message.
        tail: launched.pid > 0 ? launched.outputTail(2048) : '',
      };
      // A node killed after it listened leaves its socket behind.
      await Promise.all([
        unlink(outputFile).catch(() => {}),
        launched.pid > 0 && transport.removeStale(nodeName(launched.pid)),
      ]);
    }
  }
  // The last attempt's own error says how it ended (exited, killed, never listened); an exit
  // alone would read "killed by SIGKILL" for a node this host killed for being late. Its stderr
  // tail follows once, below the message.
  const how = last ? last.error.message.split('\n')[0] : 'no attempt was made';
  throw new NodeLaunchError(
    `could not start a node after ${attempt} attempts; the last one: ${how}`,
    attempt,
    last?.exit,
    last?.tail ?? '',
    {
      cause: last?.error,
    },
  );
}

/** Starts the node command with the options that make it a node of this provider's kind. */
function spawnNode(setup: ProcessNodeSetup, outputFile: string): NodeProcess {
  const { options, reuse } = setup;
  const command = options.nodeCommand ?? defaultNodeCommand();
  const args = [...command.args, '--listen', 'pipe'];
  if (!options.captureOutput) args.push('--output-file', outputFile);
  args.push('--idle-timeout', String(options.idleTimeoutMs ?? (reuse ? 15 * 60_000 : 60_000)));
  if (reuse) args.push('--reuse');
  if (reuse && options.maxIdleNodes !== undefined) args.push('--max-idle', String(options.maxIdleNodes));
  if (options.lowPriority) args.push('--low-priority');
  if (options.taskHost) args.push('--task-host');
  if (options.session !== undefined) args.push('--session', options.session);
  if (options.runtimeVersion !== undefined) args.push('--runtime-version', options.runtimeVersion);
  return setup.launcher.launch({
    command: command.command,
    args,
    env: {
      // msgpackr's native string accelerator costs a node ~12 ms of start-up and buys little on
      // node packets, which are small; a caller's env may turn it back on.
      MSGPACKR_NATIVE_ACCELERATION_DISABLED: 'true',
      ...(options.env ?? process.env),
      TROUPE_SOCKET_DIR: setup.transport.directory,
    },
    outputFile,
  });
}

/** Connects to a node that is starting: retried with back-off until it listens, exits, or time runs out. */
async function connectLaunched(
  setup: ProcessNodeSetup,
  launched: NodeProcess,
  onLink: (link: Link) => void,
): Promise<Link> {
  const { options, clock, transport } = setup;
  const address = transport.pathFor(nodeName(launched.pid));
  const timeoutMs = options.connectTimeoutMs ?? 30_000;
  const deadline = clock.now() + timeoutMs;
  // A failed connect to a socket that does not exist yet costs microseconds, and every
  // millisecond between the node listening and us noticing is start-up time: poll briskly.
  let pause = 2;
  for (;;) {
    const exit = launched.exit();
    if (exit && launched.pid <= 0) {
      const command = (options.nodeCommand ?? defaultNodeCommand()).command;
      throw new NodeLaunchError(
        `could not run ${command}: ${launched.outputTail(2048).split('\n')[0] || 'no process was started'}`,
        1,
        exit,
        '',
      );
    }
    if (exit) {
      throw new NodeLaunchError(
        `node process ${launched.pid} ${exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`} before it accepted a connection`,
        1,
        exit,
        launched.outputTail(2048),
      );
    }
    if (launched.pid <= 0) {
      // The OS would not start the command (missing, not executable) and the launcher learns why
      // a moment later: a pause like any other until then.
      if (clock.now() + pause > deadline) {
        throw new NodeLaunchError(`no node process was started within ${timeoutMs} ms`, 1, undefined, '');
      }
      await sleep(clock, pause);
      pause = Math.min(pause * 2, 5);
      continue;
    }
    try {
      return await transport.connect(address, {
        handshake: setup.handshake,
        clock,
        connectTimeoutMs: Math.max(1, deadline - clock.now()),
        // After the exit packet the host reads on until the node ends its side (what it logged
        // before the end arrives); the exit and kill timeouts bound that, not a fixed 2 s. A
        // reusable node is not waited on to exit, so its link keeps the short default.
        ...(!setup.reuse && { closeTimeoutMs: closeTimeoutMs(options) }),
        onLink,
      });
    } catch (error) {
      if (!(error instanceof ConnectError)) throw error;
      if (clock.now() + pause > deadline) {
        throw new NodeLaunchError(
          `node process ${launched.pid} did not accept a connection within ${timeoutMs} ms`,
          1,
          undefined,
          launched.outputTail(2048),
          { cause: error },
        );
      }
      await sleep(clock, pause);
      pause = Math.min(pause * 2, 5);
    }
  }
}
