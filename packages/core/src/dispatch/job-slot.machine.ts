// Over 400 lines on purpose: one statechart (a job's eight steps), with the effects contract and
// bind function that the wiring convention keeps beside it (docs/architecture.md).
import { ActorEffects, type EffectsKey } from '@troupe/transport/internal';
import { assign, type EventObject, fromCallback, fromPromise, type SnapshotFrom, setup } from 'xstate';
import { type JobCancelKind, LeaseLostError, type NodeExit } from '../errors.js';
import { resultForExitCode } from '../jobs/result.js';
import type { JobCompletion, JobRequest } from '../jobs/source.js';
import type { JobWorker } from './workers.js';

export type JobSlotEvent =
  | { type: 'job.assigned'; job: JobRequest }
  | { type: 'job.cancel'; kind: JobCancelKind; reason: string }
  | { type: 'job.metadata'; metadata: Record<string, unknown> }
  | LeaseEvent
  | { type: 'worker.exited'; worker: string; exit: NodeExit };

/** What the lease renewer tells the slot. */
export type LeaseEvent = { type: 'lease.renewed' } | { type: 'lease.lost'; error: Error };

/** Why the job is being stopped, decided by whichever of cancel and lease loss came first. */
export interface JobStop {
  result: 'Canceled' | 'Abandoned';
  kind: JobCancelKind;
  reason: string;
}

export interface JobSlotContext {
  /** The key to the owner's effects (`bindJobSlotEffects`); undefined when walked alone. */
  effects: EffectsKey<JobSlotEffects> | undefined;
  channelTimeoutMs: number;
  cancelTimeoutMs: number;
  killTimeoutMs: number;
  job: JobRequest | undefined;
  /** The job's worker, once started: the handle the effects below act on, not the slot's owner. */
  worker: JobWorker | undefined;
  /** A cancel or lease loss that arrived before the job message reached the worker. */
  stop: JobStop | undefined;
  /** The one result of this job, set once on the way to `finishing`. */
  completion: JobCompletion | undefined;
  /** Why the job ends without a result (the job message never reached the worker). */
  unreported: string | undefined;
}

/**
 * What a slot does to the world. The machine names each in `setup()` and decides when; its owner
 * (`JobSlot`, dispatch/slot.ts) supplies them all through `bindJobSlotEffects`, whose key is the
 * actor's input.
 */
export interface JobSlotEffects {
  /** Step 1: resolves once the slot's previous job has released its worker. Never rejects. */
  awaitPrevious(): Promise<void>;
  /**
   * Keeps the job's lease for as long as the slot is `leased`: sends `lease.renewed` after the
   * first renewal and `lease.lost` when it gives up. The function it returns stops it.
   */
  renewLease(job: JobRequest, send: (event: LeaseEvent) => void): () => void;
  /** Starts a fresh worker for the job. */
  startWorker(job: JobRequest): Promise<JobWorker>;
  /** Sends the job message; resolves once it was handed to the worker's connection. */
  sendJob(worker: JobWorker, job: JobRequest): Promise<void>;
  /** Sends the cancel message for `stop`. */
  sendCancel(worker: JobWorker, job: JobRequest, stop: JobStop): Promise<void>;
  /** Reports the job's one result to its source. */
  report(job: JobRequest, completion: JobCompletion): Promise<void>;
  /** The job message reached its worker. */
  announceStarted(job: JobRequest, pid: number | undefined): void;
  /** The job's result was reported (or could not be: `announceReportFailed` came first). */
  announceCompleted(job: JobRequest, completion: JobCompletion | undefined): void;
  /** The job ends without a result; `reason` says why. */
  announceUnreported(job: JobRequest, reason: string | undefined): void;
  announceReportFailed(job: JobRequest, error: unknown): void;
  /** The worker exited outside the result codes; `output` is its stdout and stderr tail. */
  announceCrash(job: JobRequest, crash: { pid: number | undefined; exit: NodeExit; output: string }): void;
  forwardMetadata(worker: JobWorker, job: JobRequest, metadata: Record<string, unknown>): void;
  killWorker(worker: JobWorker): void;
  /** Lets go of what is left of the worker; the next job's `awaitPrevious` waits for it. */
  releaseWorker(worker: JobWorker, job: JobRequest): void;
}

const effects = new ActorEffects<JobSlotEffects>();

type Bound = { effects: EffectsKey<JobSlotEffects> | undefined };

/** An invoked step of a slot nobody bound: it never ends, so the slot stays where it is. */
const never = () => new Promise<never>(() => {});

/** The worker exited before anything else decided: its exit code is the result. */
const exitDecides = {
  guard: 'ourWorker',
  target: '#jobSlot.finishing',
  actions: [
    {
      type: 'completeFromExit',
      params: ({ event }: { event: JobSlotEvent }) => ({
        exit: (event as Extract<JobSlotEvent, { type: 'worker.exited' }>).exit,
      }),
    },
    'announceCrash',
  ],
} as const;

/**
 * One dispatcher slot, the Azure Pipelines agent's `JobDispatcher.RunAsync` as a machine. Each
 * step of a job is a state:
 *
 * 1. `awaitingPrevious`: the previous job of this slot has completely finished (worker gone,
 *    output removed).
 * 2. `leased.firstRenewal`: the lease renewer runs (invoked for all of `leased`, so leaving
 *    `leased` is what stops renewing); no worker starts before the first renewal succeeds.
 * 3. `leased.startingWorker`: a fresh worker process.
 * 4. `withWorker.sendingJob`: the job message under the channel timeout; a timeout kills the
 *    worker and ends in `unreported` (the job never ran).
 * 5–6. `withWorker.running`: started; the first of worker exit, lease loss, cancel decides.
 * 7. `withWorker.cancelling`: cancel message under the channel timeout, then the cancel timeout,
 *    then kill and the kill timeout.
 * 8. `finishing`: outside `leased`, so renewal has stopped; reports the result, and only then
 *    is the job announced completed.
 *
 * The result is assigned on exactly one transition into `finishing`, and `finishing` reports it
 * once; later events (a late exit after a cancel, a cancel after an exit) find no transition.
 */
export const jobSlotMachine = setup({
  types: {
    context: {} as JobSlotContext,
    events: {} as JobSlotEvent,
    input: {} as Bound & { channelTimeoutMs: number; cancelTimeoutMs: number; killTimeoutMs: number },
  },
  // The steps the owner carries out, invoked with the slot's effects key in their input (an
  // invoked actor's `self` is its own, not the slot's); unbound, they never end.
  actors: {
    awaitPrevious: fromPromise<void, Bound>(
      ({ input }) => effects.of(input.effects)?.awaitPrevious() ?? never(),
    ),
    renewLease: fromCallback<EventObject, Bound & { job: JobRequest }>(({ input, sendBack }) =>
      effects.of(input.effects)?.renewLease(input.job, sendBack),
    ),
    startWorker: fromPromise<JobWorker, Bound & { job: JobRequest }>(
      ({ input }) => effects.of(input.effects)?.startWorker(input.job) ?? never(),
    ),
    watchWorker: fromCallback<EventObject, { worker: JobWorker }>(({ input, sendBack }) => {
      let live = true;
      void input.worker.exited.then((exit) => {
        if (live) sendBack({ type: 'worker.exited', worker: input.worker.id, exit });
      });
      return () => {
        live = false;
      };
    }),
    sendJob: fromPromise<void, Bound & { worker: JobWorker; job: JobRequest }>(
      ({ input }) => effects.of(input.effects)?.sendJob(input.worker, input.job) ?? never(),
    ),
    sendCancel: fromPromise<void, Bound & { worker: JobWorker; job: JobRequest; stop: JobStop }>(
      ({ input }) => effects.of(input.effects)?.sendCancel(input.worker, input.job, input.stop) ?? never(),
    ),
    report: fromPromise<void, Bound & { job: JobRequest; completion: JobCompletion }>(
      ({ input }) => effects.of(input.effects)?.report(input.job, input.completion) ?? never(),
    ),
  },
  actions: {
    // Effects, carried out by the owner that bound them (`bindJobSlotEffects`); unbound, nothing.
    announceStarted: ({ context }) =>
      effects.of(context.effects)?.announceStarted(context.job!, context.worker?.pid),
    announceCompleted: ({ context }) =>
      effects.of(context.effects)?.announceCompleted(context.job!, context.completion),
    announceUnreported: ({ context }) =>
      effects.of(context.effects)?.announceUnreported(context.job!, context.unreported),
    announceReportFailed: ({ context }, { error }: { error: unknown }) =>
      effects.of(context.effects)?.announceReportFailed(context.job!, error),
    forwardMetadata: ({ context }, { metadata }: { metadata: Record<string, unknown> }) => {
      if (context.worker)
        effects.of(context.effects)?.forwardMetadata(context.worker, context.job!, metadata);
    },
    killWorker: ({ context }) => {
      if (context.worker) effects.of(context.effects)?.killWorker(context.worker);
    },
    releaseWorker: ({ context }) => {
      if (context.worker) effects.of(context.effects)?.releaseWorker(context.worker, context.job!);
    },
    announceCrash: ({ context }) => {
      const completion = context.completion;
      // Only a completion from an exit outside the result codes carries the worker's output.
      if (!completion?.exit || completion.output === undefined) return;
      effects.of(context.effects)?.announceCrash(context.job!, {
        pid: context.worker?.pid,
        exit: completion.exit,
        output: completion.output,
      });
    },
    // Pure: what the machine knows.
    takeJob: assign({
      job: ({ event }) => (event.type === 'job.assigned' ? event.job : undefined),
      worker: undefined,
      stop: undefined,
      completion: undefined,
      unreported: undefined,
    }),
    holdStop: assign({
      stop: ({ context, event }): JobStop | undefined =>
        context.stop ??
        (event.type === 'job.cancel'
          ? { result: 'Canceled', kind: event.kind, reason: event.reason }
          : event.type === 'lease.lost'
            ? { result: 'Abandoned', kind: 'CancelRequest', reason: leaseLostReason(event.error) }
            : undefined),
    }),
    completeAsStopped: assign({
      completion: ({ context }): JobCompletion =>
        context.completion ?? {
          result: context.stop?.result ?? 'Canceled',
          reason: context.stop?.reason ?? 'cancelled',
        },
    }),
    /** The result the worker's exit code stands for; outside the table, Failed with its output. */
    completeFromExit: assign({
      completion: ({ context }, params: { exit: NodeExit }) => completionForExit(context.worker, params.exit),
    }),
    /** The report was refused by the fence: Abandoned (kept as it was if it already is). */
    abandonAfterReport: assign({
      completion: ({ context }, params: { error: unknown }): JobCompletion | undefined =>
        context.completion?.result === 'Abandoned'
          ? context.completion
          : {
              result: 'Abandoned',
              reason: leaseLostReason(params.error as Error),
              ...(context.completion?.exit && { exit: context.completion.exit }),
            },
    }),
    /** A stopped job's result is decided; the exit is recorded beside it. */
    noteExit: assign({
      completion: ({ context }, params: { exit: NodeExit }) =>
        context.completion && { ...context.completion, exit: params.exit },
    }),
    // The cancel reached the worker: nothing to do in core, so not an effect. It is the hook of
    // the model checker's broken variant `complete-twice`, whose seam provides one that reports a
    // result already (through `[internalSeams]`, before the owner provides its effects).
    cancelSent: () => {},
  },
  guards: {
    stopHeld: ({ context }) => context.stop !== undefined,
    leaseLost: ({ event }) => (event as { error?: unknown }).error instanceof LeaseLostError,
    ourWorker: ({ context, event }) => event.type === 'worker.exited' && event.worker === context.worker?.id,
  },
  delays: {
    channelTimeout: ({ context }) => context.channelTimeoutMs,
    cancelTimeout: ({ context }) => context.cancelTimeoutMs,
    killTimeout: ({ context }) => context.killTimeoutMs,
  },
}).createMachine({
  id: 'jobSlot',
  context: ({ input }) => ({
    ...input,
    job: undefined,
    worker: undefined,
    stop: undefined,
    completion: undefined,
    unreported: undefined,
  }),
  initial: 'idle',
  states: {
    idle: {
      on: { 'job.assigned': { target: 'awaitingPrevious', actions: 'takeJob' } },
    },
    /** Step 1: the slot's previous job has completely finished. */
    awaitingPrevious: {
      // The previous job's release never rejects (JobSlot's releaseWorker catches its errors and
      // announces them as jobError).
      invoke: {
        src: 'awaitPrevious',
        input: ({ context }) => ({ effects: context.effects }),
        onDone: 'leased',
      },
      on: { 'job.cancel': { target: 'finishing', actions: ['holdStop', 'completeAsStopped'] } },
    },
    /** Steps 2–7, while the lease is renewed. Leaving this state stops the renewer. */
    leased: {
      invoke: {
        src: 'renewLease',
        input: ({ context }) => ({ effects: context.effects, job: context.job! }),
      },
      initial: 'firstRenewal',
      states: {
        /** Step 2: no worker before the first renewal succeeds. */
        firstRenewal: {
          on: {
            'lease.renewed': 'startingWorker',
            'lease.lost': {
              target: '#jobSlot.unreported',
              actions: assign({
                unreported: ({ event }) => `the lease was never renewed: ${event.error.message}`,
              }),
            },
            'job.cancel': { target: '#jobSlot.finishing', actions: ['holdStop', 'completeAsStopped'] },
          },
        },
        /** Step 3. */
        startingWorker: {
          invoke: {
            src: 'startWorker',
            input: ({ context }) => ({ effects: context.effects, job: context.job! }),
            onDone: [
              {
                guard: 'stopHeld',
                target: 'withWorker.discarding',
                actions: assign({ worker: ({ event }) => event.output }),
              },
              { target: 'withWorker', actions: assign({ worker: ({ event }) => event.output }) },
            ],
            onError: {
              target: '#jobSlot.finishing',
              actions: assign({
                completion: ({ context, event }): JobCompletion =>
                  context.stop
                    ? { result: context.stop.result, reason: context.stop.reason }
                    : { result: 'Failed', reason: `the worker did not start: ${errorText(event.error)}` },
              }),
            },
          },
          on: { 'job.cancel': { actions: 'holdStop' }, 'lease.lost': { actions: 'holdStop' } },
        },
        withWorker: {
          invoke: { src: 'watchWorker', input: ({ context }) => ({ worker: context.worker! }) },
          initial: 'sendingJob',
          states: {
            /** Step 4: the job message, under the channel timeout. */
            sendingJob: {
              invoke: {
                src: 'sendJob',
                input: ({ context }) => ({
                  effects: context.effects,
                  worker: context.worker!,
                  job: context.job!,
                }),
                onDone: [{ guard: 'stopHeld', target: 'cancelling' }, { target: 'running' }],
                onError: {
                  target: 'abortingUnsent',
                  actions: assign({
                    unreported: ({ event }) => `the job message could not be sent: ${errorText(event.error)}`,
                  }),
                },
              },
              after: {
                channelTimeout: {
                  target: 'abortingUnsent',
                  actions: assign({
                    unreported: ({ context }) =>
                      `the job message was not sent within ${context.channelTimeoutMs} ms`,
                  }),
                },
              },
              on: {
                'job.cancel': { actions: 'holdStop' },
                'lease.lost': { actions: 'holdStop' },
                'worker.exited': exitDecides,
              },
            },
            /** Steps 5–6: announced; the first of exit, lease loss and cancel decides. */
            running: {
              entry: 'announceStarted',
              on: {
                'worker.exited': exitDecides,
                'lease.lost': { target: 'cancelling', actions: 'holdStop' },
                'job.cancel': { target: 'cancelling', actions: 'holdStop' },
                'job.metadata': {
                  actions: { type: 'forwardMetadata', params: ({ event }) => ({ metadata: event.metadata }) },
                },
              },
            },
            /** Step 7: ask, wait, kill. The result is already decided (Canceled or Abandoned). */
            cancelling: {
              entry: 'completeAsStopped',
              initial: 'sendingCancel',
              on: {
                'worker.exited': {
                  guard: 'ourWorker',
                  target: '#jobSlot.finishing',
                  actions: { type: 'noteExit', params: ({ event }) => ({ exit: event.exit }) },
                },
              },
              states: {
                sendingCancel: {
                  invoke: {
                    src: 'sendCancel',
                    input: ({ context }) => ({
                      effects: context.effects,
                      worker: context.worker!,
                      job: context.job!,
                      stop: context.stop!,
                    }),
                    onDone: { target: 'awaitingExit', actions: 'cancelSent' },
                    onError: 'killing',
                  },
                  after: { channelTimeout: 'killing' },
                },
                awaitingExit: { after: { cancelTimeout: 'killing' } },
                killing: {
                  entry: 'killWorker',
                  after: { killTimeout: '#jobSlot.finishing' },
                },
              },
            },
            /** The job message never reached the worker: kill it; there is no result to report. */
            abortingUnsent: {
              entry: 'killWorker',
              on: { 'worker.exited': { guard: 'ourWorker', target: '#jobSlot.unreported' } },
              after: { killTimeout: '#jobSlot.unreported' },
            },
            /** Cancelled or abandoned before the job message was sent: kill the worker; result decided. */
            discarding: {
              entry: ['completeAsStopped', 'killWorker'],
              on: {
                'worker.exited': {
                  guard: 'ourWorker',
                  target: '#jobSlot.finishing',
                  actions: { type: 'noteExit', params: ({ event }) => ({ exit: event.exit }) },
                },
              },
              after: { killTimeout: '#jobSlot.finishing' },
            },
          },
        },
      },
    },
    /** Step 8: renewal has stopped (we left `leased`); report, then announce. */
    finishing: {
      invoke: {
        src: 'report',
        input: ({ context }) => ({
          effects: context.effects,
          job: context.job!,
          completion: context.completion!,
        }),
        onDone: { target: 'idle', actions: ['announceCompleted', 'releaseWorker'] },
        onError: [
          {
            // Another take holds the job now (a zombie's report): nothing was recorded, and the
            // job ends here as Abandoned, whatever the worker said; the holder's result stands.
            guard: 'leaseLost',
            target: 'idle',
            actions: [
              { type: 'abandonAfterReport', params: ({ event }) => ({ error: event.error }) },
              { type: 'announceReportFailed', params: ({ event }) => ({ error: event.error }) },
              'announceCompleted',
              'releaseWorker',
            ],
          },
          {
            target: 'idle',
            actions: [
              { type: 'announceReportFailed', params: ({ event }) => ({ error: event.error }) },
              'announceCompleted',
              'releaseWorker',
            ],
          },
        ],
      },
    },
    /** The job ends without a result (it never ran); the source's lease runs out on its own. */
    unreported: {
      always: { target: 'idle', actions: ['announceUnreported', 'releaseWorker'] },
    },
  },
});

/** A slot's state, as the machine defines it. */
export type JobSlotState = SnapshotFrom<typeof jobSlotMachine>['value'];

/** The key to `slotEffects` for a job slot machine's actor: its input `effects`. */
export function bindJobSlotEffects(slotEffects: JobSlotEffects): EffectsKey<JobSlotEffects> {
  return effects.bind(slotEffects);
}

/** What a worker's exit says about its job: a result from the table, or a crash. */
export function completionForExit(worker: JobWorker | undefined, exit: NodeExit): JobCompletion {
  const result = exit.signal === null ? resultForExitCode(exit.code) : undefined;
  if (result) {
    const failure = result === 'Failed' ? worker?.failure?.() : undefined;
    return failure === undefined ? { result, exit } : { result, reason: `the job failed: ${failure}`, exit };
  }
  const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
  return {
    result: 'Failed',
    reason: `the worker ${how}, outside the job result codes`,
    exit,
    output: worker?.output() ?? '',
  };
}

function leaseLostReason(error: Error): string {
  return `the job's lease was lost: ${error.message}`;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
