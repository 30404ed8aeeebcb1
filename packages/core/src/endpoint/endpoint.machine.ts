import { ActorEffects, type EffectsKey } from '@troupe/transport/internal';
import { and, assign, type SnapshotFrom, setup } from 'xstate';
import type { HeartbeatTimes } from '../packets.js';

/**
 * What the endpoint machine does to the world, carried out by its endpoint: bound by
 * `bindNodeEndpointEffects` when the endpoint creates its actor (the key is the actor's input), so
 * none can be left out.
 */
export interface NodeEndpointEffects {
  /** Makes `linkId` the host: admitted by the listener, told the node is ready. */
  acceptHost(linkId: string): void;
  /** Tells a host offering itself while this node serves another that it is busy, and closes its link. */
  refuseHost(linkId: string): void;
  /** Why this node must not serve again (a task module it loaded changed on disk); undefined if it may. */
  staleModules(): string | undefined;
  /** Tells the host offering itself that this node retires (it then exits), and closes its link. */
  retire(linkId: string): void;
  /** Cancels what the host left running here and closes its link. */
  releaseHost(): void;
  /** Forgets the requests of the build that ended, for the next host. */
  resetBuildState(): void;
  /** Ends the node: listener and links closed, processes its tasks started ended. */
  exit(): void;
  /** How long the host has been silent (no packet from it), not counting this node's own lateness. */
  hostSilentFor(): number;
  /** Watching the host starts now: it was just accepted. */
  watchHost(): void;
  /** A heartbeat tick went by (this node's own lateness is not the host's silence). */
  hostTicked(): void;
  /** The host was silent past its heartbeat timeout: says so, before it is released. */
  hostSilent(timeoutMs: number): void;
}

export type NodeEndpointEvent =
  | { type: 'host.offered'; linkId: string; reuse: boolean; heartbeat?: HeartbeatTimes | undefined }
  | { type: 'host.lost'; linkId: string }
  | { type: 'build.completed'; linkId: string; prepareForReuse: boolean }
  | { type: 'endpoint.exit' };

const effects = new ActorEffects<NodeEndpointEffects>();

/**
 * The child side of a node: waiting for a host, serving one, idle for reuse, exiting.
 *
 * The machine is the arbiter of who the host is. A link becomes the host only through
 * `host.offered`, taken in `waiting` or `idle`; in `active` the offer is refused. So two hosts
 * racing for one idle node cannot both get it, whatever order their packets arrive in.
 *
 * The idle timer is a delayed transition: a connection that fails the handshake never reaches
 * the machine, so strangers cannot keep a node alive by knocking (MSBuild does the same).
 */
export const nodeEndpointMachine = setup({
  types: {
    context: {} as {
      /** The key to the endpoint's effects (`bindNodeEndpointEffects`); undefined when walked alone. */
      effects: EffectsKey<NodeEndpointEffects> | undefined;
      idleTimeoutMs: number;
      host: string | undefined;
      reuse: boolean;
      /** The host's heartbeat times (its NodeConfiguration), when it gave them. */
      heartbeat: HeartbeatTimes | undefined;
      builds: number;
    },
    events: {} as NodeEndpointEvent,
    input: {} as { effects: EffectsKey<NodeEndpointEffects> | undefined; idleTimeoutMs: number },
  },
  actions: {
    // Effects, carried out by the endpoint that bound them (`bindNodeEndpointEffects`); unbound,
    // they do nothing, as when a test walks the machine on its own.
    acceptHost: ({ context }, { linkId }: { linkId: string }) =>
      effects.of(context.effects)?.acceptHost(linkId),
    refuseHost: ({ context }, { linkId }: { linkId: string }) =>
      effects.of(context.effects)?.refuseHost(linkId),
    retire: ({ context }, { linkId }: { linkId: string }) => effects.of(context.effects)?.retire(linkId),
    releaseHost: ({ context }, _params: { linkId: string | undefined }) =>
      effects.of(context.effects)?.releaseHost(),
    resetBuildState: ({ context }) => effects.of(context.effects)?.resetBuildState(),
    exit: ({ context }) => effects.of(context.effects)?.exit(),
    watchHost: ({ context }) => effects.of(context.effects)?.watchHost(),
    hostTicked: ({ context }) => effects.of(context.effects)?.hostTicked(),
    hostSilent: ({ context }) => effects.of(context.effects)?.hostSilent(context.heartbeat?.timeoutMs ?? 0),
    takeHost: assign({
      host: ({ event }) => (event.type === 'host.offered' ? event.linkId : undefined),
      reuse: ({ event }) => event.type === 'host.offered' && event.reuse,
      heartbeat: ({ event }) => (event.type === 'host.offered' ? event.heartbeat : undefined),
    }),
  },
  guards: {
    // Never in core: the model checker's broken variant `accept-second-host` provides one that
    // says yes (through the endpoint's `[internalSeams]`).
    acceptsSecondHost: () => false,
    fromHost: ({ context, event }) => 'linkId' in event && event.linkId === context.host,
    hostDoneForReuse: ({ context, event }) =>
      event.type === 'build.completed' && event.linkId === context.host && event.prepareForReuse,
    // The endpoint's answer (it asks its task modules; unbound, never). Checked when a host offers
    // itself to an idle node, not per request: one stat per module per build.
    reusable: ({ context }) => context.reuse,
    modulesStale: ({ context }) => effects.of(context.effects)?.staleModules() !== undefined,
    hostLostReusable: ({ context, event }) =>
      event.type === 'host.lost' && event.linkId === context.host && context.reuse,
    hostHeartbeats: ({ context }) => context.heartbeat !== undefined,
    // Read when the heartbeat tick fires (unbound: never silent).
    hostSilentTooLong: ({ context }) => {
      const world = effects.of(context.effects);
      return world !== undefined && world.hostSilentFor() >= (context.heartbeat?.timeoutMs ?? Infinity);
    },
  },
  delays: {
    idleTimeout: ({ context }) => context.idleTimeoutMs,
    heartbeatInterval: ({ context }) => context.heartbeat?.intervalMs ?? 1_000,
  },
}).createMachine({
  id: 'nodeEndpoint',
  context: ({ input }) => ({
    effects: input.effects,
    idleTimeoutMs: input.idleTimeoutMs,
    host: undefined,
    reuse: false,
    heartbeat: undefined,
    builds: 0,
  }),
  initial: 'waiting',
  states: {
    /** Freshly started: no host yet. A node nobody claims goes away after the idle timeout. */
    waiting: {
      after: { idleTimeout: 'exiting' },
      on: {
        'host.offered': {
          target: 'active',
          actions: ['takeHost', { type: 'acceptHost', params: ({ event }) => ({ linkId: event.linkId }) }],
        },
      },
    },
    /**
     * Serving a host. A host that sent heartbeat times is `watching`: a tick every interval, and
     * one silent (no packet at all from it, its Pings included) for its timeout is dropped as if
     * its link had closed: what it left running is cancelled, and the node goes idle for the next
     * host, or exits. TCP does not say that a peer behind a partition, or a stopped machine, is
     * gone; a node that waited on its link would stay taken. Without heartbeats it is `trusting`:
     * its link's close is all it hears of the host's end (a local host's socket closes when it dies).
     */
    active: {
      initial: 'trusting',
      states: {
        trusting: {
          always: { guard: 'hostHeartbeats', target: 'watching', actions: 'watchHost' },
        },
        watching: {
          after: {
            heartbeatInterval: [
              {
                guard: and(['hostSilentTooLong', 'reusable']),
                target: '#nodeEndpoint.idle',
                actions: 'hostSilent',
              },
              { guard: 'hostSilentTooLong', target: '#nodeEndpoint.exiting', actions: 'hostSilent' },
              { target: 'watching', reenter: true, actions: 'hostTicked' },
            ],
          },
        },
      },
      on: {
        'host.offered': [
          {
            // Only in the model checker's broken variant `accept-second-host`.
            guard: 'acceptsSecondHost',
            actions: ['takeHost', { type: 'acceptHost', params: ({ event }) => ({ linkId: event.linkId }) }],
          },
          { actions: { type: 'refuseHost', params: ({ event }) => ({ linkId: event.linkId }) } },
        ],
        'build.completed': [
          { guard: 'hostDoneForReuse', target: 'idle' },
          { guard: 'fromHost', target: 'exiting' },
        ],
        'host.lost': [
          { guard: 'hostLostReusable', target: 'idle' },
          { guard: 'fromHost', target: 'exiting' },
        ],
      },
      exit: [
        { type: 'releaseHost', params: ({ context }) => ({ linkId: context.host }) },
        'resetBuildState',
        assign({ host: undefined, builds: ({ context }) => context.builds + 1 }),
      ],
    },
    /**
     * Prepared for reuse: per-build state reset, waiting for the next host with a matching handshake.
     * A node whose task modules changed on disk since it imported them would run their old code: it
     * retires, and the host launches a fresh node in its place.
     */
    idle: {
      after: { idleTimeout: 'exiting' },
      on: {
        'host.offered': [
          {
            guard: 'modulesStale',
            target: 'exiting',
            actions: { type: 'retire', params: ({ event }) => ({ linkId: event.linkId }) },
          },
          {
            target: 'active',
            actions: ['takeHost', { type: 'acceptHost', params: ({ event }) => ({ linkId: event.linkId }) }],
          },
        ],
      },
    },
    exiting: { type: 'final', entry: 'exit' },
  },
  on: {
    'endpoint.exit': { target: '.exiting' },
  },
});

type NodeEndpointValue = SnapshotFrom<typeof nodeEndpointMachine>['value'];

/** `waiting`, `active`, `idle` or `exiting`, as the machine says. */
export type NodeEndpointState = Extract<NodeEndpointValue, string> | keyof Extract<NodeEndpointValue, object>;

/** While active: whether the node watches its host's heartbeats. */
export type HostWatchState = Extract<NodeEndpointValue, object>['active'];

/** The machine's top-level state, from its value. */
export function endpointStateOf(value: NodeEndpointValue): NodeEndpointState {
  return typeof value === 'string' ? value : 'active';
}

/** The key to `endpointEffects` for an endpoint machine's actor: its input `effects`. */
export function bindNodeEndpointEffects(
  endpointEffects: NodeEndpointEffects,
): EffectsKey<NodeEndpointEffects> {
  return effects.bind(endpointEffects);
}
