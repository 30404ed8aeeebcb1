import { assign, fromPromise, setup } from 'xstate';
import { HandshakeTimeoutError } from '../errors.js';

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

export interface LinkMachineContext {
  handshakeTimeoutMs: number;
  closeTimeoutMs: number;
  reason: LinkCloseReason | undefined;
  error: Error | undefined;
}

export type LinkMachineEvent =
  | { type: 'link.close' }
  | { type: 'link.destroy'; error?: Error }
  | { type: 'channel.ended' }
  | { type: 'channel.closed'; error?: Error }
  | { type: 'protocol.violated'; error: Error }
  | { type: 'writer.failed'; error: Error };

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
    input: {} as { handshakeTimeoutMs: number; closeTimeoutMs: number },
  },
  actors: {
    // Provided by the link: exchange handshake blocks (and authenticate) over the channel.
    handshake: fromPromise<void>(async () => {}),
  },
  actions: {
    announceOpen: () => {},
    endWriter: () => {},
    destroyChannel: () => {},
    announceClose: () => {},
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
  context: ({ input }) => ({ ...input, reason: undefined, error: undefined }),
  initial: 'handshaking',
  states: {
    handshaking: {
      invoke: {
        src: 'handshake',
        onDone: { target: 'open' },
        onError: {
          target: 'closed',
          actions: assign({
            reason: firstReason('handshake-failed'),
            error: ({ context, event }) => context.error ?? (event.error as Error),
          }),
        },
      },
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
