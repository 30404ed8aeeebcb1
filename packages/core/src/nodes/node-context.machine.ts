import { ActorEffects, type EffectsKey } from '@troupe/transport/internal';
import { type Actor, type SnapshotFrom, setup } from 'xstate';

/**
 * What the node-context machine does to the world and reads of it, carried out by the node
 * context that runs it (bound by `bindNodeContextEffects`): the pings and the verdict on a silent
 * node.
 */
export interface NodeContextEffects {
  /**
   * Whether the node must be watched: it holds requests (sent, not yet answered), or it has
   * heartbeats. Only then is it pinged.
   */
  holdsWork(): boolean;
  /** Whether the node has heartbeats: watched from the moment its link opened, held work or not. */
  heartbeats(): boolean;
  /** How long the node has been silent: since its last Pong, or since it was first watched. */
  silentFor(): number;
  pingIntervalMs(): number;
  pingTimeoutMs(): number;
  /** The silence clock starts now (the node was given work while it held none, or has heartbeats). */
  watchFromNow(): void;
  ping(): void;
  /** Kills the node and fails what it held: it did not answer within the bound, or was given up on. */
  declareLost(): void;
  /** The connection ended, closed in order or failed: nothing more will happen on it. */
  ended(): void;
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
  | { type: 'work.held' }
  /** The host gave up on the node (it did not end a cancelled run in time): it is lost. */
  | { type: 'node.abandoned' };

const effects = new ActorEffects<NodeContextEffects>();

/**
 * The parent side of one node connection. Two regions run side by side:
 *
 * - `connection`: connecting → handshaking → active → closing → closed, or failed from any
 *   point before an orderly close completed. While active, a node that holds requests, or has
 *   heartbeats, is `watching`: pinged every `pingIntervalMs`; one that has not answered for
 *   `pingTimeoutMs` is `lost` (killed, its requests failed at once) and ends failed when its link
 *   is gone; so is one its host gives up on (`node.abandoned`: it did not end a cancelled run in
 *   time). A node without heartbeats that holds nothing is `quiet`: no pings, no timer, so an idle
 *   local pool costs nothing and a simulation with nothing to do stays still.
 * - `exitPacket`: none → queued (a NodeBuildComplete without reuse is in the writer queue) →
 *   sent (it reached the socket). Once `sent`, nothing else may be written to the node: the
 *   context refuses sends by consulting this region, and the model checker's monitor does too.
 *
 * Every action, guard and delay reads or touches the world (the context's clock, its link, the
 * requests it holds), so each is an effect (`NodeContextEffects`), looked up by the key in
 * context. The guards read the world when the tick fires, as they must: XState gives a guard only
 * `{ context, event }`, which is why the key is in context rather than found from `self`. Unbound
 * (a test walking the machine alone), nothing happens: no pings, never lost, nothing held, a
 * one-second tick.
 */
export const nodeContextMachine = setup({
  types: {
    context: {} as { effects: EffectsKey<NodeContextEffects> | undefined },
    events: {} as NodeContextEvent,
    input: {} as { effects: EffectsKey<NodeContextEffects> | undefined },
  },
  actions: {
    watchFromNow: ({ context }) => effects.of(context.effects)?.watchFromNow(),
    ping: ({ context }) => effects.of(context.effects)?.ping(),
    declareLost: ({ context }) => effects.of(context.effects)?.declareLost(),
    announceEnded: ({ context }) => effects.of(context.effects)?.ended(),
  },
  guards: {
    silentTooLong: ({ context }) => {
      const world = effects.of(context.effects);
      return world !== undefined && world.silentFor() >= world.pingTimeoutMs();
    },
    holdsNoWork: ({ context }) => !effects.of(context.effects)?.holdsWork(),
    heartbeats: ({ context }) => effects.of(context.effects)?.heartbeats() ?? false,
  },
  delays: {
    pingInterval: ({ context }) => effects.of(context.effects)?.pingIntervalMs() ?? 1_000,
  },
}).createMachine({
  id: 'nodeContext',
  context: ({ input }) => ({ effects: input.effects }),
  type: 'parallel',
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
          initial: 'quiet',
          on: { 'context.closing': 'closing', 'link.closed': 'failed', 'node.abandoned': 'lost' },
          states: {
            quiet: {
              // A node with heartbeats is never quiet: its silence counts from the moment its link
              // opened, whether or not it holds requests (an idle one is lost, and replaced, too).
              always: { guard: 'heartbeats', target: 'watching', actions: 'watchFromNow' },
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
        /**
         * Declared unresponsive, or given up on by its host: killed, its requests failing; failed
         * once its link is gone.
         */
        lost: {
          entry: 'declareLost',
          on: { 'link.closed': 'failed' },
        },
        closing: {
          on: { 'link.closed': 'closed' },
        },
        closed: { type: 'final', entry: 'announceEnded' },
        failed: { type: 'final', entry: 'announceEnded' },
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

/** The key to `contextEffects` for a node-context machine's actor: its input `effects`. */
export function bindNodeContextEffects(contextEffects: NodeContextEffects): EffectsKey<NodeContextEffects> {
  return effects.bind(contextEffects);
}

type NodeContextValue = SnapshotFrom<typeof nodeContextMachine>['value'];
type ConnectionValue = NodeContextValue['connection'];

/** Where the connection is; `active` whether the node is watched or quiet. */
export type NodeConnectionState = Extract<ConnectionValue, string> | keyof Extract<ConnectionValue, object>;
/** While the connection is active: whether the node is being pinged. */
export type LivenessState = Extract<ConnectionValue, object>['active'];
export type ExitPacketState = NodeContextValue['exitPacket'];

/**
 * Calls `moved` each time a region of a node context's machine changes state (a tick that
 * re-enters `watching` makes a new snapshot with the same states: no news), and `error` if the
 * actor fails. The connection's state is one path: `active.quiet` rather than `{ active: 'quiet' }`.
 */
export function onRegionMoved(
  actor: Actor<typeof nodeContextMachine>,
  moved: (region: 'connection' | 'exitPacket', state: string) => void,
  error: (error: unknown) => void,
): void {
  const path = (connection: ConnectionValue) =>
    typeof connection === 'string' ? connection : `active.${connection.active}`;
  let last = actor.getSnapshot().value;
  actor.subscribe({
    next: ({ value }) => {
      if (value === last) return;
      const before = last;
      last = value;
      const connection = path(value.connection);
      if (connection !== path(before.connection)) moved('connection', connection);
      if (value.exitPacket !== before.exitPacket) moved('exitPacket', value.exitPacket);
    },
    error,
  });
}
