import type { Packet } from '../packets.js';

/**
 * The packets a node sends that move its requests and jobs: the conversation its host answers.
 * (What anyone may watch, Log, NodeReady and NodeShutdown, are the node context's events; Pong
 * is its own.)
 */
export type HostPacket = Extract<
  Packet,
  { type: 'BuildResult' | 'BuildBlocked' | 'Yield' | 'Reacquire' | 'JobError' }
>;

/**
 * The host side of the packet protocol for one node. A node context owns the link (connect,
 * handshake, pings, close, the exit packet) and hands each decoded packet of the conversation to
 * its one host: the runtime's build host for a node of its pool (`runtime/build-host.ts`), a
 * `NodeJobWorker` (`dispatch/workers.ts`) for a job worker, and otherwise the context's own
 * direct requests (`NodeContext.request`, the low-level door).
 */
export interface NodeHost {
  /** A packet from the node, decoded and checked. Errors thrown here are reported, not thrown on. */
  receive(packet: HostPacket): void;
  /**
   * Whether a caller still waits for an answer only the node can give. A link that ends while one
   * does has failed, however cleanly it closed: the rule for an orderly close is the context's,
   * this is the host's part of it.
   */
  awaitsAnswers(): boolean;
}
