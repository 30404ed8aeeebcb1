import { type SnapshotFrom, setup } from 'xstate';

/**
 * What the scheduler machine needs of the world, supplied by its owner (the stall watch) through
 * `provideSchedulerMachine`, so none can be forgotten.
 */
export type SchedulerMachineEffects = {
  /** A stall began: announce it. */
  reportStall(): void;
  /** The stall lasted: fail the run. */
  failStall(): void;
  /**
   * How long since the last progress, in ms. Read when a timer fires rather than sent as events:
   * progress only moves a timestamp, so a busy pool costs no transition per request.
   */
  quietFor(): number;
};

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
    context: {} as { stallTimeoutMs: number; stallErrorMs: number },
    events: {} as SchedulerMachineEvent,
    input: {} as { stallTimeoutMs: number; stallErrorMs: number },
  },
  actions: {
    // Effects: the owner's (provideSchedulerMachine).
    reportStall: () => {},
    failStall: () => {},
  },
  guards: {
    // Has there been no progress for the whole stall timeout? Needs the owner's quietFor: the
    // real one is provideSchedulerMachine's; without an owner, never.
    quietLongEnough: () => false,
  },
  delays: {
    // What is left of the stall timeout since the last progress (provideSchedulerMachine; without
    // an owner, all of it).
    stallCheck: ({ context }) => context.stallTimeoutMs,
    stallError: ({ context }) => context.stallErrorMs,
  },
}).createMachine({
  id: 'scheduler',
  context: ({ input }) => ({
    stallTimeoutMs: input.stallTimeoutMs,
    stallErrorMs: input.stallErrorMs,
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

export type SchedulerState = SnapshotFrom<typeof schedulerMachine>['value'];

/**
 * `machine` (the scheduler machine, or a seam's version of it) with the owner's effects. The guard
 * and the delay that read the quiet time are written here, beside the machine, from `quietFor`.
 */
export function provideSchedulerMachine(machine: typeof schedulerMachine, effects: SchedulerMachineEffects) {
  return machine.provide({
    actions: {
      reportStall: () => effects.reportStall(),
      failStall: () => effects.failStall(),
    },
    guards: {
      quietLongEnough: ({ context }) => effects.quietFor() >= context.stallTimeoutMs,
    },
    delays: {
      stallCheck: ({ context }) => Math.max(0, context.stallTimeoutMs - effects.quietFor()),
    },
  });
}
