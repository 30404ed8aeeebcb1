import { assign, type SnapshotFrom, setup } from 'xstate';

/**
 * What the endpoint machine does to the world, carried out by its endpoint: given to
 * `provideNodeEndpoint` when the endpoint creates its actor, so none can be left out.
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
      idleTimeoutMs: number;
      host: string | undefined;
      reuse: boolean;
      builds: number;
    },
    events: {} as NodeEndpointEvent,
    input: {} as { idleTimeoutMs: number },
  },
  actions: {
    // Effects, provided by the endpoint (`provideNodeEndpoint`); without it they do nothing, as
    // when a test walks the machine on its own.
    acceptHost: (_, _params: { linkId: string }) => {},
    refuseHost: (_, _params: { linkId: string }) => {},
    retire: (_, _params: { linkId: string }) => {},
    releaseHost: (_, _params: { linkId: string | undefined }) => {},
    resetBuildState: () => {},
    exit: () => {},
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
    // Provided by the endpoint (it asks its task modules). Checked when a host offers itself to an
    // idle node, not per request: one stat per module per build.
    modulesStale: () => false,
    hostLostReusable: ({ context, event }) =>
      event.type === 'host.lost' && event.linkId === context.host && context.reuse,
  },
  delays: {
    idleTimeout: ({ context }) => context.idleTimeoutMs,
  },
}).createMachine({
  id: 'nodeEndpoint',
  context: ({ input }) => ({
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

/**
 * `machine` (the endpoint machine, or a broken variant's `provide()`d from it) with the
 * endpoint's effects. Whatever a seam provided that is not an effect (a broken guard) stays.
 */
export function provideNodeEndpoint(
  machine: typeof nodeEndpointMachine,
  effects: NodeEndpointEffects,
): typeof nodeEndpointMachine {
  return machine.provide({
    actions: {
      acceptHost: (_, { linkId }) => effects.acceptHost(linkId),
      refuseHost: (_, { linkId }) => effects.refuseHost(linkId),
      retire: (_, { linkId }) => effects.retire(linkId),
      releaseHost: () => effects.releaseHost(),
      resetBuildState: () => effects.resetBuildState(),
      exit: () => effects.exit(),
    },
    guards: {
      modulesStale: () => effects.staleModules() !== undefined,
    },
  });
}
