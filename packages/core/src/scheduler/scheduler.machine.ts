import { setup } from 'xstate';

/** What the scheduler machine asks of its scheduler. */
export interface SchedulerMachineOwner {
  reportStall(): void;
  failStall(): void;
  /** How long since the last progress, in ms. */
  quietFor(): number;
}

export type SchedulerMachineEvent =
  | { type: 'stall.suspected' }
  | { type: 'stall.cleared' }
  | { type: 'progress' }
  | { type: 'scheduler.stop' };

/**
 * The scheduler's own lifecycle: flowing, a suspected stall (every node held by a request that
 * neither finished nor yielded, work waiting, no progress), a reported stall, and the stall
 * error. Request states live in the request table (scheduler/request.ts); this machine decides
 * when silence becomes a report and a report becomes an error, on the injected clock.
 *
 * The scheduler only talks to it when something changes for the stall question, so the hot
 * path of scheduling costs no transition.
 */
export const schedulerMachine = setup({
  types: {
    context: {} as { stallTimeoutMs: number; stallErrorMs: number; owner: SchedulerMachineOwner | undefined },
    events: {} as SchedulerMachineEvent,
    input: {} as { stallTimeoutMs: number; stallErrorMs: number; owner?: SchedulerMachineOwner },
  },
  actions: {
    // Carried out by the scheduler named in the input.
    reportStall: ({ context }) => context.owner?.reportStall(),
    failStall: ({ context }) => context.owner?.failStall(),
  },
  guards: {
    // Has there been no progress for the whole stall timeout?
    quietLongEnough: ({ context }) =>
      context.owner?.quietFor() !== undefined && context.owner.quietFor() >= context.stallTimeoutMs,
  },
  delays: {
    // What is left of the stall timeout since the last progress. Progress only moves a
    // timestamp, so a busy pool costs no transition per request.
    stallCheck: ({ context }) => Math.max(0, context.stallTimeoutMs - (context.owner?.quietFor() ?? 0)),
    stallError: ({ context }) => context.stallErrorMs,
  },
}).createMachine({
  id: 'scheduler',
  context: ({ input }) => ({
    stallTimeoutMs: input.stallTimeoutMs,
    stallErrorMs: input.stallErrorMs,
    owner: input.owner,
  }),
  initial: 'flowing',
  states: {
    flowing: {
      on: { 'stall.suspected': 'suspected' },
    },
    suspected: {
      after: {
        stallCheck: [
          { guard: 'quietLongEnough', target: 'stalled' },
          { target: 'suspected', reenter: true },
        ],
      },
      on: { 'stall.cleared': 'flowing' },
    },
    stalled: {
      entry: 'reportStall',
      after: { stallError: 'failed' },
      // Whatever ends a stall (a yield, a result, a new node, a cancel) moves some request, and
      // every move is progress, which comes first: so progress is the one way out.
      on: { progress: 'flowing' },
    },
    failed: { entry: 'failStall', type: 'final' },
    stopped: { type: 'final' },
  },
  on: { 'scheduler.stop': '.stopped' },
});

export type SchedulerState = 'flowing' | 'suspected' | 'stalled' | 'failed' | 'stopped';
