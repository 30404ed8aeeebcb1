import { assign, setup } from 'xstate';

/** What the writer machine asks of its link. */
export interface WriterQueueOwner {
  flush(): void;
  endChannel(): void;
  discardQueue(): void;
}

export type WriterQueueEvent =
  | { type: 'write.refused' }
  | { type: 'write.failed'; error: Error }
  | { type: 'channel.drained' }
  | { type: 'queue.ending' }
  | { type: 'queue.aborted'; error?: Error };

/**
 * The serial writer of one link. The link queues encoded packets and flushes the queue once per
 * turn of the event loop (a microtask), so every packet sent while a flush is pending goes out in
 * the same write; writes are strictly in order. This machine owns the states in which the
 * writer behaves differently:
 *
 * - `flowing`: the channel takes writes; a flush writes the whole queue, small packets
 *   coalesced into one buffer, large ones as they are, no write over 1 MiB.
 * - `awaitingDrain`: the channel said it is full (a slow reader pushes back); nothing is written
 *   until it drains, packets wait in the queue and `send` tells callers to slow down.
 * - `ended`: everything queued was written and the channel ended; nothing more can be sent.
 * - `aborted`: the channel failed or the link was destroyed; what was queued is discarded.
 *
 * Per-packet bookkeeping stays out of the machine on purpose: one XState transition costs about
 * 5 µs, more than a whole round trip over a Unix socket, so the machine moves when the writer's
 * behaviour changes, not on every packet.
 */
export const writerQueueMachine = setup({
  types: {
    context: {} as { error: Error | undefined; owner: WriterQueueOwner | undefined },
    events: {} as WriterQueueEvent,
    input: {} as { owner?: WriterQueueOwner } | undefined,
  },
  actions: {
    // Carried out by the owner (the link) named in the input. An owner in the context rather than
    // `machine.provide(...)` per link: providing builds a new machine each time (~30 µs here),
    // more than the rest of a link's set-up.
    flush: ({ context }) => context.owner?.flush(),
    endChannel: ({ context }) => context.owner?.endChannel(),
    discardQueue: ({ context }) => context.owner?.discardQueue(),
    recordError: assign({
      error: ({ event }) => ('error' in event ? event.error : undefined),
    }),
  },
}).createMachine({
  id: 'writerQueue',
  context: ({ input }) => ({ error: undefined, owner: input?.owner }),
  initial: 'flowing',
  states: {
    flowing: {
      entry: 'flush',
      on: {
        'write.refused': { target: 'awaitingDrain' },
        'queue.ending': { target: 'ended', actions: 'flush' },
      },
    },
    awaitingDrain: {
      on: {
        'channel.drained': { target: 'flowing' },
        // Closing hands the rest to the channel at once: it buffers what it cannot send yet, and
        // the queue behind it is bounded by the high-water mark the sender already honoured.
        'queue.ending': { target: 'ended', actions: 'flush' },
      },
    },
    ended: { entry: 'endChannel', type: 'final' },
    aborted: { entry: 'discardQueue', type: 'final' },
  },
  on: {
    'write.failed': { target: '.aborted', actions: 'recordError' },
    'queue.aborted': { target: '.aborted', actions: 'recordError' },
  },
});

export type WriterQueueState = 'flowing' | 'awaitingDrain' | 'ended' | 'aborted';
