import { assign, type SnapshotFrom, setup } from 'xstate';
import { ActorEffects, type EffectsKey } from './effects.js';

/**
 * What the writer machine does to the world, carried out by its link: bound by
 * `bindWriterQueueEffects` when the link creates its actor (its key is the actor's input), so none
 * can be left out.
 */
export interface WriterQueueEffects {
  /** Hands everything queued to the channel. */
  flush(): void;
  /** Ends the channel (after the last flush). */
  endChannel(): void;
  /** Drops what is queued; whoever waits for a flush hears the link closed. */
  discardQueue(): void;
}

const effects = new ActorEffects<WriterQueueEffects>();

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
    context: {} as { effects: EffectsKey<WriterQueueEffects> | undefined; error: Error | undefined },
    events: {} as WriterQueueEvent,
    input: {} as { effects: EffectsKey<WriterQueueEffects> | undefined },
  },
  actions: {
    // Effects, carried out by the link that bound them (`bindWriterQueueEffects`).
    flush: ({ context }) => effects.of(context.effects)?.flush(),
    endChannel: ({ context }) => effects.of(context.effects)?.endChannel(),
    discardQueue: ({ context }) => effects.of(context.effects)?.discardQueue(),
    recordError: assign({
      error: ({ event }) => ('error' in event ? event.error : undefined),
    }),
  },
}).createMachine({
  id: 'writerQueue',
  context: ({ input }) => ({ effects: input.effects, error: undefined }),
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

/** `flowing`, `awaitingDrain`, `ended` or `aborted`, as the machine says. */
export type WriterQueueState = SnapshotFrom<typeof writerQueueMachine>['value'];

/** The key to `writerEffects` for a writer queue machine's actor: its input `effects`. */
export function bindWriterQueueEffects(writerEffects: WriterQueueEffects): EffectsKey<WriterQueueEffects> {
  return effects.bind(writerEffects);
}
