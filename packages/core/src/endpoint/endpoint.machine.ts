import { ActorEffects, type EffectsKey } from '@troupe/transport/internal';
import { assign, type SnapshotFrom, setup } from 'xstate';

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
}

export type NodeEndpointEvent =
  | { type: 'host.offered'; linkId: string; reuse: boolean }
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
    takeHost: assign({
      host: ({ event }) => (event.type === 'host.offered' ? event.linkId : undefined),
      reuse: ({ event }) => event.type === 'host.offered' && event.reuse,
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
    modulesStale: ({ context }) => effects.of(context.effects)?.staleModules() !== undefined,
    hostLostReusable: ({ context, event }) =>
      event.type === 'host.lost' && event.linkId === context.host && context.reuse,
  },
  delays: {
    idleTimeout: ({ context }) => context.idleTimeoutMs,
  },
}).createMachine({
  id: 'nodeEndpoint',
  context: ({ input }) => ({
    effects: input.effects,
    idleTimeoutMs: input.idleTimeoutMs,
    host: undefined,
    reuse: false,
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
    active: {
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

/** `waiting`, `active`, `idle` or `exiting`, as the machine says. */
export type NodeEndpointState = SnapshotFrom<typeof nodeEndpointMachine>['value'];

/** The key to `endpointEffects` for an endpoint machine's actor: its input `effects`. */
export function bindNodeEndpointEffects(
  endpointEffects: NodeEndpointEffects,
): EffectsKey<NodeEndpointEffects> {
  return effects.bind(endpointEffects);
}
