import { assign, type SnapshotFrom, setup } from 'xstate';
import { HandshakeTimeoutError } from '../errors.js';
import { ActorEffects, type EffectsKey } from './effects.js';

export type LinkCloseReason =
  /** This side called `close()` or `destroy()`. */
  | 'closed'
  /** The peer ended the stream cleanly. */
  | 'closed-by-peer'
  /** An I/O error, a reset, or the peer vanishing. */
  | 'connection-failed'
  /** The peer sent bytes that are not troupe frames or packets. */
  | 'protocol-error'
  /** Handshake or authentication failed or timed out. */
  | 'handshake-failed';

/**
 * What the link machine does to the world, carried out by its link: bound by `bindLinkEffects`
 * when the link creates its actor (its key is the actor's input), so none can be left out.
 */
export interface LinkEffects {
  /** Starts the writer, settles `opened` and emits `open`. */
  announceOpen(): void;
  /** Ends the writer: what is queued goes out, then the channel's end. */
  endWriter(): void;
  /** Stops the writer and the frame timer and destroys the channel. */
  destroyChannel(): void;
  /** Settles `opened` and `closed` and emits `close`, with the first reason. */
  announceClose(reason: LinkCloseReason, error: Error | undefined): void;
}

export interface LinkMachineContext {
  /** The key to the link's effects (`bindLinkEffects`); undefined for a machine walked alone. */
  effects: EffectsKey<LinkEffects> | undefined;
  handshakeTimeoutMs: number;
  closeTimeoutMs: number;
  reason: LinkCloseReason | undefined;
  error: Error | undefined;
}

export type LinkMachineEvent =
  | { type: 'handshake.succeeded' }
  | { type: 'handshake.failed'; error: Error }
  | { type: 'link.close' }
  | { type: 'link.destroy'; error?: Error }
  | { type: 'channel.ended' }
  | { type: 'channel.closed'; error?: Error }
  | { type: 'protocol.violated'; error: Error }
  | { type: 'writer.failed'; error: Error };

const effects = new ActorEffects<LinkEffects>();

const firstReason =
  (reason: LinkCloseReason) =>
  ({ context }: { context: LinkMachineContext }) =>
    context.reason ?? reason;

/**
 * The lifecycle of one link: handshake, open, an orderly close, closed. The first cause of a
 * close wins: a protocol error followed by the socket closing is reported as a protocol error.
 */
export const linkMachine = setup({
  types: {
    context: {} as LinkMachineContext,
    events: {} as LinkMachineEvent,
    input: {} as {
      effects: EffectsKey<LinkEffects> | undefined;
      handshakeTimeoutMs: number;
      closeTimeoutMs: number;
    },
  },
  actions: {
    // Effects, carried out by the link that bound them (`bindLinkEffects`).
    announceOpen: ({ context }) => effects.of(context.effects)?.announceOpen(),
    endWriter: ({ context }) => effects.of(context.effects)?.endWriter(),
    destroyChannel: ({ context }) => effects.of(context.effects)?.destroyChannel(),
    announceClose: ({ context }) =>
      effects.of(context.effects)?.announceClose(context.reason ?? 'closed', context.error),
    recordError: assign({
      error: ({ context, event }) => context.error ?? ('error' in event ? event.error : undefined),
    }),
  },
  delays: {
    handshakeTimeout: ({ context }) => context.handshakeTimeoutMs,
    closeTimeout: ({ context }) => context.closeTimeoutMs,
  },
}).createMachine({
  id: 'link',
  context: ({ input }) => ({
    effects: input.effects,
    handshakeTimeoutMs: input.handshakeTimeoutMs,
    closeTimeoutMs: input.closeTimeoutMs,
    reason: undefined,
    error: undefined,
  }),
  initial: 'handshaking',
  states: {
    handshaking: {
      after: {
        handshakeTimeout: {
          target: 'closed',
          actions: assign({
            reason: firstReason('handshake-failed'),
            error: ({ context }) =>
              context.error ?? new HandshakeTimeoutError(context.handshakeTimeoutMs, 'handshake'),
          }),
        },
      },
      on: {
        // The link runs the exchange (handshake blocks, authentication) and reports how it ended:
        // plain events rather than an invoked promise actor, which costs more than the exchange.
        'handshake.succeeded': { target: 'open' },
        'handshake.failed': {
          target: 'closed',
          actions: assign({
            reason: firstReason('handshake-failed'),
            error: ({ context, event }) => context.error ?? event.error,
          }),
        },
        'channel.ended': {
          target: 'closed',
          actions: assign({ reason: firstReason('handshake-failed') }),
        },
        'channel.closed': {
          target: 'closed',
          actions: [assign({ reason: firstReason('handshake-failed') }), 'recordError'],
        },
        'link.close': { target: 'closed', actions: assign({ reason: firstReason('closed') }) },
        'link.destroy': {
          target: 'closed',
          actions: [assign({ reason: firstReason('closed') }), 'recordError'],
        },
      },
    },
    open: {
      entry: 'announceOpen',
      on: {
        'link.close': { target: 'closing', actions: assign({ reason: firstReason('closed') }) },
        'channel.ended': { target: 'closing', actions: assign({ reason: firstReason('closed-by-peer') }) },
      },
    },
    closing: {
      entry: 'endWriter',
      after: { closeTimeout: { target: 'closed' } },
    },
    closed: {
      type: 'final',
      entry: ['destroyChannel', 'announceClose'],
    },
  },
  on: {
    'channel.closed': {
      target: '.closed',
      actions: [
        assign({
          reason: ({ context, event }) =>
            context.reason ?? (event.error ? 'connection-failed' : 'closed-by-peer'),
        }),
        'recordError',
      ],
    },
    'protocol.violated': {
      target: '.closed',
      actions: [assign({ reason: firstReason('protocol-error') }), 'recordError'],
    },
    'writer.failed': {
      target: '.closed',
      actions: [assign({ reason: firstReason('connection-failed') }), 'recordError'],
    },
    'link.destroy': {
      target: '.closed',
      actions: [assign({ reason: firstReason('closed') }), 'recordError'],
    },
  },
});

/** `handshaking`, `open`, `closing` or `closed`, as the machine says. */
export type LinkMachineState = SnapshotFrom<typeof linkMachine>['value'];

/** The key to `linkEffects` for a link machine's actor: its input `effects`. */
export function bindLinkEffects(linkEffects: LinkEffects): EffectsKey<LinkEffects> {
  return effects.bind(linkEffects);
}
