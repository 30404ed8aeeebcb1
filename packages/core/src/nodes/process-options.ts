// Process nodes' options; the default node command is this Node.js (process.execPath) on the
// bundled node entry when the build made one (node:fs), else on the CLI.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Clock, HandshakeOptions, PipeTransport, RandomSource } from '@troupe/transport';
import type { IdSource } from '../ids.js';
import {
  boolean,
  checkRequired,
  checkShape,
  clock,
  duration,
  integer,
  invalid,
  isRecord,
  nonEmptyString,
  join as optionPath,
  random,
  type Shape,
  shape,
  string,
  stringArray,
  version,
  withMethods,
} from '../options.js';
import type { Launcher } from '../system/launcher.js';
import type { NodeContext } from './context.js';
import type { NodeWarning } from './provider.js';

export interface ShutdownTimeouts {
  /** How long the exit packet may wait in the writer before the host stops waiting. Default 100 ms. */
  drainTimeoutMs?: number;
  /** First pause between checks that the node exited; doubles each time. Default 5 ms. */
  exitPollStartMs?: number;
  /** Longest pause between checks. Default 500 ms. */
  exitPollMaxMs?: number;
  /** How long a node may take to exit after the exit packet before its tree is killed. Default 30 s. */
  exitTimeoutMs?: number;
  /** How long to wait for a killed tree to disappear. Default 5 s. */
  killTimeoutMs?: number;
}

export interface ProcessNodeProviderOptions {
  /** Nodes stay idle after the build for later hosts, and idle nodes of this user are reused. */
  reuse?: boolean;
  lowPriority?: boolean;
  /** Nodes are sidecar task hosts (a handshake flag: they never pair with ordinary hosts' nodes). */
  taskHost?: boolean;
  /** Pair only with nodes of this session (mixed into the handshake salt). */
  session?: string;
  /** Present another runtime version in the handshake (for tests of version mismatch). */
  runtimeVersion?: string;
  /** Exit after this long without a host. Default 15 minutes for reusable nodes, 60 s otherwise. */
  idleTimeoutMs?: number;
  /**
   * Reusable nodes of this user kept idle, across every host (MSBuild's rule; default 1.5 × the
   * cores, rounded up): a node that would go idle while this many are older exits instead.
   */
  maxIdleNodes?: number;
  /** Per launch: how long the new node has to accept a connection. Default 30 s. */
  connectTimeoutMs?: number;
  /** Launches tried per node before giving up. Default 10. */
  launchAttempts?: number;
  shutdown?: ShutdownTimeouts;
  /**
   * The host keeps each node's output file until the node is shut down through this provider,
   * even after the node exits on its own (job workers, whose output is attached to crash
   * reports). The node is not told the file's name, so it does not remove it either.
   */
  captureOutput?: boolean;
  /** How to start a node: a command and the arguments before the node options (`troupe node`'s).
   * Default: this Node.js running @troupe/core's bundled node entry. */
  nodeCommand?: { command: string; args: readonly string[] };
  env?: NodeJS.ProcessEnv;
  launcher?: Launcher;
  transport?: PipeTransport;
  clock?: Clock;
  random?: RandomSource;
}

export interface ProcessNodeProviderEvents {
  /** Something went wrong that did not fail the caller, e.g. a node that had to be killed. */
  warning: [warning: NodeWarning];
  /** A node was launched or reused and accepted this host. */
  node: [node: NodeContext, how: 'launched' | 'reused'];
  /**
   * A node's process being shut down after its exit packet, step by step (for timelines): the
   * wait for its exit begins, each pause of the wait's back-off, it exited; or the wait ran out,
   * its tree was killed, and it was gone after the kill, or still there.
   */
  exit: [node: NodeContext, step: NodeExitStep];
}

/** One step of a process node's shutdown (`ProcessNodeProviderEvents.exit`). */
export type NodeExitStep =
  | { step: 'waiting' }
  | { step: 'paused'; ms: number }
  | { step: 'exited' }
  | { step: 'killed' }
  | { step: 'gone' }
  | { step: 'stuck' };

/**
 * What launching, reusing and shutting down process nodes share: the provider's options and what
 * it made of them once, at construction.
 */
export interface ProcessNodeSetup {
  readonly options: ProcessNodeProviderOptions;
  readonly reuse: boolean;
  readonly launcher: Launcher;
  readonly transport: PipeTransport;
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly ids: IdSource;
  readonly handshake: HandshakeOptions;
}

/** How long a launched node's link may take to close: until the node is gone, at the latest killed. */
export function closeTimeoutMs(options: ProcessNodeProviderOptions): number {
  const timeouts = options.shutdown ?? {};
  return (timeouts.exitTimeoutMs ?? 30_000) + (timeouts.killTimeoutMs ?? 5_000);
}

// The build's bundle (scripts/bundle.mjs), from dist/nodes/ or from a chunk in dist/bundle/ alike.
const bundlePath = fileURLToPath(new URL('../bundle/process-node.js', import.meta.url));
const binPath = fileURLToPath(new URL('../bin/troupe.js', import.meta.url));

/** How a node process is started: the bundled node entry when the build made one, else the CLI. */
export function defaultNodeCommand(): { command: string; args: readonly string[] } {
  return existsSync(bundlePath)
    ? { command: process.execPath, args: [bundlePath] }
    : { command: process.execPath, args: [binPath, 'node'] };
}

const shutdownShape: Shape<ShutdownTimeouts> = {
  drainTimeoutMs: duration(0),
  exitPollStartMs: duration(1),
  exitPollMaxMs: duration(1),
  exitTimeoutMs: duration(0),
  killTimeoutMs: duration(0),
};

/** The rules for `ProcessNodeProviderOptions` (the runtime's `nodes.process` takes most of them). */
export const processShape: Shape<ProcessNodeProviderOptions> = {
  reuse: boolean,
  lowPriority: boolean,
  taskHost: boolean,
  session: string,
  runtimeVersion: version,
  idleTimeoutMs: duration(1),
  maxIdleNodes: integer(0),
  connectTimeoutMs: duration(1),
  launchAttempts: integer(1),
  shutdown: shape(shutdownShape),
  captureOutput: boolean,
  nodeCommand: (value, path) => {
    checkShape(value, { command: nonEmptyString, args: stringArray }, path);
    checkRequired(value as Record<string, unknown>, ['command', 'args'], path, 'set');
  },
  env: (value, path) => {
    if (!isRecord(value)) throw invalid(path, 'an object of environment variables', value);
    for (const [name, entry] of Object.entries(value))
      if (entry !== undefined && typeof entry !== 'string')
        throw invalid(optionPath(path, name), 'a string', entry);
  },
  launcher: withMethods('a Launcher', ['launch', 'attach']),
  transport: withMethods('a PipeTransport', ['connect', 'pathFor', 'removeStale']),
  clock,
  random,
};
