import type { Clock, Link } from '@troupe/transport';
import type { IdSource } from '../ids.js';
import type { PacketBodies } from '../packets.js';
import type { internalSeams, MachineSeam } from '../seams.js';
import type { NodeProcess } from '../system/launcher.js';
import type { PingTimes } from './liveness.js';
import type { nodeContextMachine } from './node-context.machine.js';

// What a node context is given and what it tells: its options, seams and events.

export type NodeKind = 'inproc' | 'thread' | 'process' | 'remote';

export interface NodeContextOptions {
  id: string;
  kind: NodeKind;
  /** Opens the link; must call `onLink` as soon as the link exists (before its handshake ends). */
  connect: (onLink: (link: Link) => void) => Promise<Link>;
  /**
   * Where the node runs, for people: 'local' (default), a remote node's launcher prefix joined
   * with spaces (`ssh build-02 --`), or a static endpoint's URL.
   */
  location?: string;
  /** The node's process, when it has one: its exit and output tail go into failure reports. */
  process?: NodeProcess;
  nodeReuse?: boolean;
  clock?: Clock;
  ids?: IdSource;
  /** How long to wait for the process to report its exit after the link dies, so the error can
   * say how the node ended. Default 1 s (a loaded machine can be slow to deliver the exit). */
  exitGraceMs?: number;
  /** How long to wait for the node to accept this host (NodeReady) after the handshake. Default 30 s. */
  readyTimeoutMs?: number;
  /** Pings while the node holds requests, and how long it may stay silent. See `PingTimes`. */
  ping?: Partial<PingTimes>;
  /**
   * Heartbeats both ways (`DEFAULT_HEARTBEAT` fills what is left out): the node is pinged every
   * `intervalMs` whether or not it holds requests and lost after `timeoutMs` of silence, even
   * idle; it is told the same times, and drops this host after `timeoutMs` without a packet from
   * it. For nodes across a network, where a peer can vanish without its socket closing. Without
   * it, `ping` applies, and only while the node holds requests.
   */
  heartbeat?: Partial<PingTimes>;
  /** Which connection of the node this is, from 1 (NodeConfiguration `incarnation`). Default 1. */
  incarnation?: number;
  /**
   * Ends the node when it is declared lost (it did not answer pings). Default: kill its process's
   * tree (a thread node's "process" terminates the thread). In-process nodes pass their own.
   */
  kill?: () => void;
  /** The model checker's broken variants only (`@troupe/core/internal`). */
  [internalSeams]?: NodeContextSeams;
}

/** Where a test reaches inside one node context (see `internalSeams`). */
export interface NodeContextSeams {
  /** Replaces the context's machine, e.g. by one whose liveness guard never declares a node lost. */
  machine?: MachineSeam<typeof nodeContextMachine>;
  /**
   * Writes to a link that is still open after the exit packet was sent, and leaves the link open
   * for the node to hang up after an orderly close (the model checker's `send-after-exit`).
   */
  writesAfterExitPacket?: boolean;
}

export interface NodeContextEvents {
  /** The node is going away: it said so, or the connection failed (reason ConnectionFailed). */
  shutdown: [body: PacketBodies['NodeShutdown'], error: Error | undefined];
  log: [body: PacketBodies['Log']];
  /** The node accepted this host. */
  ready: [body: PacketBodies['NodeReady']];
  closed: [];
  /**
   * The node-context machine moved, in one of its regions: `connection` (`connecting`,
   * `handshaking`, `active.quiet`, `active.watching`, `lost`, `closing`, `closed`, `failed`) or
   * `exitPacket` (`none`, `queued`, `sent`). For timelines and views of the machine.
   */
  state: [region: 'connection' | 'exitPacket', state: string];
}
