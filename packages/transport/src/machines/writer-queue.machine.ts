import { and, assign, setup } from 'xstate';

/**
 * The serial writer of one link. Packets are queued by the link outside the machine (so the hot
 * path costs an array push, not a transition); the machine decides when a batch is written.
 *
 * - `idle`: nothing in flight. The first queued packet starts a write at once (low latency).
 * - `writing`: one batch is in the channel. Packets sent meanwhile wait and go out together in
 *   the next batch, which is what makes many small packets cheaper than one write each.
 * - `awaitingDrain`: the channel refused more (its buffer is full); nothing is written until it
 *   drains. This is where backpressure from a slow reader reaches the sender.
 * - `ended`: the queue was flushed and the channel ended; nothing more can be sent.
 * - `aborted`: the channel failed or the link was destroyed; queued packets are discarded.
 *
 * `endRequested` lives in context rather than as extra states: "finish what is queued, then
 * end" applies equally to writing and awaitingDrain.
 */
export const writerQueueMachine = setup({
  types: {
    context: {} as { endRequested: boolean; batches: number; error: Error | undefined },
    events: {} as
      | { type: 'packet.queued' }
      | { type: 'write.flushed'; batch: number }
      | { type: 'write.refused' }
      | { type: 'write.failed'; error: Error }
      | { type: 'channel.drained' }
      | { type: 'queue.ending' }
      | { type: 'queue.aborted'; error?: Error },
  },
  actions: {
    // Provided by the link: take up to one write's worth of the queue and hand it to the channel.
    writeBatch: () => {},
    endChannel: () => {},
    discardQueue: () => {},
    requestEnd: assign({ endRequested: true }),
    countBatch: assign({ batches: ({ context }) => context.batches + 1 }),
    recordError: assign({
      error: ({ event }) => ('error' in event ? event.error : undefined),
    }),
  },
  guards: {
    // Provided by the link: is anything waiting in the queue?
    hasQueued: () => false,
    endRequested: ({ context }) => context.endRequested,
    // A write callback that arrives after its batch was superseded (refused, then drained) is stale.
    currentBatch: ({ context, event }) => event.type === 'write.flushed' && event.batch === context.batches,
  },
}).createMachine({
  id: 'writerQueue',
  context: { endRequested: false, batches: 0, error: undefined },
  initial: 'idle',
  states: {
    idle: {
      on: {
        'packet.queued': { target: 'writing' },
        'queue.ending': { target: 'ended', actions: 'requestEnd' },
      },
    },
    writing: {
      entry: ['countBatch', 'writeBatch'],
      on: {
        'write.refused': { target: 'awaitingDrain' },
        'write.flushed': [
          { guard: and(['currentBatch', 'hasQueued']), target: 'writing', reenter: true },
          { guard: and(['currentBatch', 'endRequested']), target: 'ended' },
          { guard: 'currentBatch', target: 'idle' },
        ],
        'queue.ending': { actions: 'requestEnd' },
      },
    },
    awaitingDrain: {
      on: {
        // The batch that was refused was still accepted by the channel; a drain means it left.
        'channel.drained': [
          { guard: 'hasQueued', target: 'writing' },
          { guard: 'endRequested', target: 'ended' },
          { target: 'idle' },
        ],
        'queue.ending': { actions: 'requestEnd' },
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

export type WriterQueueState = 'idle' | 'writing' | 'awaitingDrain' | 'ended' | 'aborted';
