import { setup } from 'xstate';

/** What the node-context machine asks of its context (liveness: pings and the verdict). */
export interface NodeContextOwner {
  /** Whether the node holds requests (sent, not yet answered): only then is it pinged. */
  holdsWork(): boolean;
  /** How long the node has been silent: since its last Pong, or since it was first given work. */
  silentFor(): number;
  /** The silence clock starts now (the node was given work while it held none). */
  watchFromNow(): void;
  ping(): void;
  /** Kills the node and fails what it held: it did not answer within the bound. */
  declareLost(): void;
  readonly pingIntervalMs: number;
  readonly pingTimeoutMs: number;
}

export type NodeContextEvent =
  | { type: 'link.created' }
  | { type: 'link.opened' }
  | { type: 'connect.failed' }
  | { type: 'context.closing' }
  | { type: 'link.closed' }
  | { type: 'exit.queued' }
  | { type: 'exit.sent' }
  /** The node was given a request while it held none: watch it. */
  | { type: 'work.held' };

/**
 * The parent side of one node connection. Two regions run side by side:
 *
 * - `connection`: connecting → handshaking → active → closing → closed, or failed from any
 *   point before an orderly close completed. While active, a node that holds requests is
 *   `watching`: pinged every `pingIntervalMs`; one that has not answered for `pingTimeoutMs` is
 *   `lost` (killed, its requests failed) and ends failed when its link is gone. A node that holds
 *   nothing is `quiet`: no pings, no timer, so an idle pool costs nothing and a simulation with
 *   nothing to do stays still.
 * - `exitPacket`: none → queued (a NodeBuildComplete without reuse is in the writer queue) →
 *   sent (it reached the socket). Once `sent`, nothing else may be written to the node: the
 *   context refuses sends by consulting this region, and the model checker's monitor does too.
 */
export const nodeContextMachine = setup({
  types: {
    context: {} as { owner: NodeContextOwner | undefined },
    events: {} as NodeContextEvent,
    input: {} as { owner?: NodeContextOwner } | undefined,
  },
  actions: {
    // Provided by the context.
    announceActive: () => {},
    announceFailed: () => {},
    announceClosed: () => {},
    watchFromNow: ({ context }) => context.owner?.watchFromNow(),
    ping: ({ context }) => context.owner?.ping(),
    declareLost: ({ context }) => context.owner?.declareLost(),
  },
  guards: {
    silentTooLong: ({ context }) =>
      context.owner !== undefined && context.owner.silentFor() >= context.owner.pingTimeoutMs,
    holdsNoWork: ({ context }) => !context.owner?.holdsWork(),
  },
  delays: {
    pingInterval: ({ context }) => context.owner?.pingIntervalMs ?? 1_000,
  },
}).createMachine({
  id: 'nodeContext',
  type: 'parallel',
  context: ({ input }) => ({ owner: input?.owner }),
  states: {
    connection: {
      initial: 'connecting',
      states: {
        connecting: {
          on: { 'link.created': 'handshaking', 'connect.failed': 'failed' },
        },
        handshaking: {
          on: { 'link.opened': 'active', 'connect.failed': 'failed' },
        },
        active: {
          entry: 'announceActive',
          initial: 'quiet',
          on: { 'context.closing': 'closing', 'link.closed': 'failed' },
          states: {
            quiet: {
              on: { 'work.held': { target: 'watching', actions: 'watchFromNow' } },
            },
            watching: {
              // One tick per interval: a verdict, nothing left to watch, or the next ping. The
              // tick re-enters, so its delay restarts; a Pong only moves a timestamp.
              after: {
                pingInterval: [
                  { guard: 'silentTooLong', target: '#nodeContext.connection.lost' },
                  { guard: 'holdsNoWork', target: 'quiet' },
                  { target: 'watching', reenter: true, actions: 'ping' },
                ],
              },
            },
          },
        },
        /** Declared unresponsive: killed, its requests failing; failed once its link is gone. */
        lost: {
          entry: 'declareLost',
          on: { 'link.closed': 'failed' },
        },
        closing: {
          on: { 'link.closed': 'closed' },
        },
        closed: { type: 'final', entry: 'announceClosed' },
        failed: { type: 'final', entry: 'announceFailed' },
      },
    },
    exitPacket: {
      initial: 'none',
      states: {
        none: { on: { 'exit.queued': 'queued' } },
        queued: { on: { 'exit.sent': 'sent' } },
        sent: {},
      },
    },
  },
});

export type NodeConnectionState =
  | 'connecting'
  | 'handshaking'
  | 'active'
  | 'lost'
  | 'closing'
  | 'closed'
  | 'failed';
export type ExitPacketState = 'none' | 'queued' | 'sent';
/** While the connection is active: whether the node is being pinged. */
export type LivenessState = 'quiet' | 'watching';
