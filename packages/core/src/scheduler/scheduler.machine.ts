import { ActorEffects, type EffectsKey } from '@troupe/transport/internal';
import { type SnapshotFrom, setup } from 'xstate';

/**
 * What the scheduler machine needs of the world, supplied by its owner (the stall watch) through
 * `bindSchedulerEffects` when it creates its actor (the key is the actor's input), so none can be
 * forgotten.
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

const effects = new ActorEffects<SchedulerMachineEffects>();

export interface SchedulerMachineInput {
  /** The key to the owner's effects (`bindSchedulerEffects`); undefined when walked alone. */
  effects: EffectsKey<SchedulerMachineEffects> | undefined;
  stallTimeoutMs: number;
  stallErrorMs: number;
}

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
    context: {} as SchedulerMachineInput,
    events: {} as SchedulerMachineEvent,
    input: {} as SchedulerMachineInput,
  },
  actions: {
    // Effects: the owner's (bindSchedulerEffects); unbound, nothing.
    reportStall: ({ context }) => effects.of(context.effects)?.reportStall(),
    failStall: ({ context }) => effects.of(context.effects)?.failStall(),
  },
  guards: {
    // Has there been no progress for the whole stall timeout? Asks the owner's quietFor when the
    // check fires (a guard gets only context and event, so the key is in context); unbound, never.
    quietLongEnough: ({ context }) => {
      const world = effects.of(context.effects);
      return world !== undefined && world.quietFor() >= context.stallTimeoutMs;
    },
  },
  delays: {
    // What is left of the stall timeout since the last progress (unbound, all of it).
    stallCheck: ({ context }) => {
      const world = effects.of(context.effects);
      return world === undefined
        ? context.stallTimeoutMs
        : Math.max(0, context.stallTimeoutMs - world.quietFor());
    },
    stallError: ({ context }) => context.stallErrorMs,
  },
}).createMachine({
  id: 'scheduler',
  context: ({ input }) => ({
    effects: input.effects,
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

/** The key to `schedulerEffects` for a scheduler machine's actor: its input `effects`. */
export function bindSchedulerEffects(
  schedulerEffects: SchedulerMachineEffects,
): EffectsKey<SchedulerMachineEffects> {
  return effects.bind(schedulerEffects);
}
