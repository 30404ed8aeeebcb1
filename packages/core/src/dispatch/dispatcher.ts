import { type Clock, systemClock } from '@troupe/transport';
import { machineInspector, reportUnhandledError, SafeEmitter } from '@troupe/transport/internal';
import { type Actor, createActor, fromCallback, fromPromise } from 'xstate';
import { type JobCancelKind, JobWorkerCrashedError } from '../errors.js';
import type { JobCompletion, JobRequest, JobSource } from '../jobs/source.js';
import {
  checkRequired,
  checkShape,
  clock,
  duration,
  integer,
  type Shape,
  shape,
  withMethods,
} from '../options.js';
import type { PacketBodies } from '../packets.js';
import { internalSeams, type MachineSeam } from '../seams.js';
import {
  type JobDispatcherContext,
  type JobSlotEvent,
  type JobSlotState,
  jobSlotMachine,
} from './job-slot.machine.js';
import { type JobWorkerFactory, ProcessJobWorkers } from './workers.js';

export interface LeaseOptions {
  /** Pause between successful renewals. Default 60 s. */
  renewIntervalMs?: number;
  /** First pause after a failed renewal; doubles per failure. Default 1 s. */
  retryStartMs?: number;
  /** Longest pause between retries. Default 30 s. */
  retryMaxMs?: number;
  /** Failed attempts at the first renewal before giving up (no worker is started). Default 5. */
  firstRenewalAttempts?: number;
}

export interface JobDispatcherOptions {
  source: JobSource;
  /** Where workers come from. Default: a fresh process node per job (`ProcessJobWorkers`). */
  workers?: JobWorkerFactory;
  /** Jobs run at once, one per slot. Default 1. */
  slots?: number;
  /** How long a message to a worker (the job, a cancel) may take to send. Default 30 s. */
  channelTimeoutMs?: number;
  /** How long a worker has to exit after a cancel before it is killed. Default 60 s. */
  cancelTimeoutMs?: number;
  /** How long to wait for a killed worker to be gone. Default 5 s. */
  killTimeoutMs?: number;
  lease?: LeaseOptions;
  clock?: Clock;
  /** The model checker's broken variants only (`@troupe/core/internal`). */
  [internalSeams]?: JobDispatcherSeams;
}

/** Where a test reaches inside one dispatcher (see `internalSeams`). */
export interface JobDispatcherSeams {
  /**
   * Replaces each slot's machine, as the dispatcher provided it, e.g. by one whose `cancelSent`
   * reports a result before the worker has exited.
   */
  machine?: MachineSeam<typeof jobSlotMachine>;
}

export interface JobStartedEvent {
  job: JobRequest;
  slot: number;
  pid: number | undefined;
}

export interface JobCompletedEvent {
  job: JobRequest;
  slot: number;
  /** The reported result; undefined when the job ends without one (`reason` says why). */
  completion: JobCompletion | undefined;
  reason?: string;
}

export interface JobDispatcherEvents {
  /** The job message reached its worker. */
  started: [event: JobStartedEvent];
  /** The job's result was reported to the source (or the job ended without one). */
  completed: [event: JobCompletedEvent];
  /** A log line from a running job. */
  log: [job: JobRequest, body: PacketBodies['Log']];
  /** Something about a job went wrong: a worker crash (with its output), a failed report. */
  jobError: [job: JobRequest, error: Error];
  /** A slot's machine changed state. */
  state: [slot: number, state: JobSlotState, jobId: string | undefined];
}

interface Slot {
  readonly index: number;
  readonly actor: Actor<typeof jobSlotMachine>;
  /** The previous job's release (worker gone, output removed): step 1 of the next job waits on it. */
  previous: Promise<void>;
  idle: Array<() => void>;
}

/**
 * The Azure Pipelines agent's job dispatcher: jobs from a `JobSource`, each in a fresh worker
 * process under a renewable lease, cancellation as a message then a kill, crash output attached,
 * exactly one result per job. Each slot is a `jobSlotMachine`; this class feeds it jobs and
 * gives it the world (source, workers, clock).
 */
export class JobDispatcher extends SafeEmitter<JobDispatcherEvents> {
  readonly #options: JobDispatcherOptions;
  readonly #source: JobSource;
  readonly #workers: JobWorkerFactory;
  readonly #clock: Clock;
  readonly #slots: Slot[] = [];
  readonly #stop = new AbortController();
  #running: Promise<void> | undefined;

  constructor(options: JobDispatcherOptions) {
    super();
    checkShape(options, dispatcherShape, '');
    checkRequired(options as unknown as Record<string, unknown>, ['source'], '', 'a JobSource');
    this.#options = options;
    this.#source = options.source;
    this.#workers = options.workers ?? new ProcessJobWorkers();
    this.#clock = options.clock ?? systemClock;
    const slots = options.slots ?? 1;
    for (let index = 0; index < slots; index++) this.#slots.push(this.#createSlot(index));
  }

  /** The state of each slot's machine. */
  get states(): JobSlotState[] {
    return this.#slots.map((slot) => slot.actor.getSnapshot().value as JobSlotState);
  }

  /** The jobs running now (taken and not yet completed), by slot. */
  get jobs(): Array<JobRequest | undefined> {
    return this.#slots.map((slot) => slot.actor.getSnapshot().context.job);
  }

  /**
   * Takes jobs from the source and runs them until the source says there will be no more (its
   * `take` resolves `undefined`: a `MemoryJobServer` once it is `close`d and its queue is empty),
   * or until `shutdown`. Resolves when every slot has finished its last job and released its
   * worker. A source that stays open keeps `run` waiting for jobs, as an agent serving a queue
   * should: close the source after adding a batch to run just that batch.
   */
  run(): Promise<void> {
    this.#running ??= Promise.all(this.#slots.map((slot) => this.#feed(slot))).then(() =>
      Promise.all(this.#slots.map((slot) => slot.previous)).then(() => {}),
    );
    return this.#running;
  }

  /**
   * Runs one job in the first free slot, outside `run`'s loop (the job comes from elsewhere but
   * its lease and result still go through the source). Resolves when it has completed.
   */
  async dispatch(job: JobRequest): Promise<JobCompletedEvent> {
    const slot = this.#slots.find((candidate) => candidate.actor.getSnapshot().value === 'idle');
    if (!slot) throw new Error('every slot is busy');
    const done = new Promise<JobCompletedEvent>((resolve) => {
      const onCompleted = (event: JobCompletedEvent) => {
        if (event.job !== job) return;
        this.off('completed', onCompleted);
        resolve(event);
      };
      this.on('completed', onCompleted);
    });
    slot.actor.send({ type: 'job.assigned', job });
    return done;
  }

  /** Cancels a running job. Returns false if no slot runs it. */
  cancel(jobId: string, kind: JobCancelKind = 'CancelRequest', reason = 'cancelled by the user'): boolean {
    const slot = this.#slotOf(jobId);
    slot?.actor.send({ type: 'job.cancel', kind, reason });
    return slot !== undefined;
  }

  /** Forwards a metadata update to a running job's worker. Returns false if no slot runs it. */
  updateMetadata(jobId: string, metadata: Record<string, unknown>): boolean {
    const slot = this.#slotOf(jobId);
    slot?.actor.send({ type: 'job.metadata', metadata });
    return slot !== undefined;
  }

  /**
   * Stops taking jobs, cancels the running ones with `kind` (the agent is shutting down, or the
   * machine is), and resolves when every slot has reported and released its worker.
   */
  async shutdown(
    kind: Exclude<JobCancelKind, 'CancelRequest'> = 'RuntimeShutdown',
    reason = 'the agent is shutting down',
  ): Promise<void> {
    this.#stop.abort(new Error(reason));
    for (const slot of this.#slots) slot.actor.send({ type: 'job.cancel', kind, reason });
    await Promise.all(this.#slots.map((slot) => this.#whenIdle(slot)));
    await Promise.all(this.#slots.map((slot) => slot.previous));
    await this.#running?.catch(() => {});
    for (const slot of this.#slots) slot.actor.stop();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }

  #slotOf(jobId: string): Slot | undefined {
    return this.#slots.find((slot) => slot.actor.getSnapshot().context.job?.id === jobId);
  }

  async #feed(slot: Slot): Promise<void> {
    while (!this.#stop.signal.aborted) {
      let job: JobRequest | undefined;
      try {
        job = await this.#source.take(this.#stop.signal);
      } catch (error) {
        if (this.#stop.signal.aborted) return;
        throw error;
      }
      if (!job) return;
      const idle = this.#whenIdle(slot, true);
      slot.actor.send({ type: 'job.assigned', job });
      await idle;
    }
  }

  /** Resolves the next time the slot is idle (now, if it is and `next` is false). */
  #whenIdle(slot: Slot, next = false): Promise<void> {
    if (!next && slot.actor.getSnapshot().value === 'idle') return Promise.resolve();
    return new Promise((resolve) => slot.idle.push(resolve));
  }

  #createSlot(index: number): Slot {
    const options = this.#options;
    const lease = options.lease ?? {};
    const slot: Slot = { index, actor: undefined as never, previous: Promise.resolve(), idle: [] };
    const jobOf = (ctx: JobDispatcherContext) => ctx.job!;
    const provided = jobSlotMachine.provide({
      actors: {
        awaitPrevious: fromPromise(() => slot.previous),
        renewLease: fromCallback(({ input, sendBack }) =>
          renewLease(this.#source, this.#clock, input.job, lease, sendBack as (e: JobSlotEvent) => void),
        ),
        startWorker: fromPromise(async ({ input }) => {
          const worker = await this.#workers.start(input.job);
          worker.onLog((body) => this.emitSafely('log', input.job, body));
          return worker;
        }),
        sendJob: fromPromise(({ input }) =>
          input.worker.send('JobRequest', {
            jobId: input.job.id,
            job: input.job.job,
            message: input.job.message,
            ...(input.job.metadata && { metadata: { ...input.job.metadata } }),
          }),
        ),
        sendCancel: fromPromise(({ input }) =>
          input.worker.send('JobCancel', {
            jobId: input.job.id,
            kind: input.stop.kind,
            reason: input.stop.reason,
          }),
        ),
        report: fromPromise(({ input }) => this.#source.complete(input.job, input.completion)),
      },
      actions: {
        announceStarted: ({ context: ctx }) =>
          this.emitSafely('started', { job: jobOf(ctx), slot: index, pid: ctx.worker?.pid }),
        announceCompleted: ({ context: ctx }) =>
          this.emitSafely('completed', { job: jobOf(ctx), slot: index, completion: ctx.completion }),
        announceUnreported: ({ context: ctx }) =>
          this.emitSafely('completed', {
            job: jobOf(ctx),
            slot: index,
            completion: undefined,
            ...(ctx.unreported && { reason: ctx.unreported }),
          }),
        announceReportFailed: ({ context: ctx }, { error }) =>
          this.emitSafely(
            'jobError',
            jobOf(ctx),
            new Error(`could not report the result of job ${jobOf(ctx).id}: ${(error as Error)?.message}`, {
              cause: error,
            }),
          ),
        forwardMetadata: ({ context: ctx }, { metadata }) => {
          const worker = ctx.worker;
          worker
            ?.send('MetadataUpdate', { requestId: jobOf(ctx).id, metadata })
            .catch((error: unknown) =>
              this.emitSafely(
                'jobError',
                jobOf(ctx),
                new Error(`could not forward metadata to job ${jobOf(ctx).id}: ${(error as Error).message}`),
              ),
            );
        },
        killWorker: ({ context: ctx }) => ctx.worker?.kill(),
        releaseWorker: ({ context: ctx }) => {
          const worker = ctx.worker;
          if (!worker) return;
          const job = jobOf(ctx);
          const released = worker.dispose().catch((error: unknown) => {
            this.emitSafely(
              'jobError',
              job,
              new Error(`could not release the worker of job ${job.id}`, { cause: error }),
            );
          });
          slot.previous = released;
        },
        announceCrash: ({ context: ctx }) => {
          const completion = ctx.completion;
          if (!completion?.exit || completion.output === undefined) return;
          const job = jobOf(ctx);
          this.emitSafely(
            'jobError',
            job,
            new JobWorkerCrashedError(job.id, ctx.worker?.pid, completion.exit, completion.output),
          );
        },
      },
    });
    const seam = options[internalSeams]?.machine;
    const machine = seam ? seam(provided) : provided;
    const actor = createActor(machine, {
      inspect: machineInspector(),
      clock: this.#clock,
      input: {
        channelTimeoutMs: options.channelTimeoutMs ?? 30_000,
        cancelTimeoutMs: options.cancelTimeoutMs ?? 60_000,
        killTimeoutMs: options.killTimeoutMs ?? 5_000,
      },
    });
    (slot as { actor: typeof actor }).actor = actor;
    let last: unknown;
    actor.subscribe({
      next: (snapshot) => {
        if (snapshot.value === last) return;
        last = snapshot.value;
        this.emitSafely('state', index, snapshot.value as JobSlotState, snapshot.context.job?.id);
        if (snapshot.value === 'idle') for (const resolve of slot.idle.splice(0)) resolve();
      },
      error: reportUnhandledError,
    });
    actor.start();
    return slot;
  }
}

/**
 * Keeps one job's lease: renews at once, then every `renewIntervalMs`; a failed renewal is retried
 * with back-off until the lease has run out (or, for the first renewal, `firstRenewalAttempts`
 * times), and then the lease is lost. Sends `lease.renewed` after the first success and
 * `lease.lost` when it gives up; the returned function stops it.
 */
function renewLease(
  source: JobSource,
  clock: Clock,
  job: JobRequest,
  options: LeaseOptions,
  send: (event: JobSlotEvent) => void,
): () => void {
  const interval = options.renewIntervalMs ?? 60_000;
  const retryStart = options.retryStartMs ?? 1_000;
  const retryMax = options.retryMaxMs ?? 30_000;
  const firstAttempts = options.firstRenewalAttempts ?? 5;
  const controller = new AbortController();
  let stopped = false;
  let timer: ReturnType<Clock['setTimeout']> | undefined;
  let renewed = false;
  let expiresAt: number | undefined;
  let failures = 0;
  let retry = retryStart;
  const schedule = (ms: number) => {
    timer = clock.setTimeout(attempt, ms);
  };
  const attempt = () => {
    timer = undefined;
    source.renew(job, controller.signal).then(
      (lease) => {
        if (stopped) return;
        expiresAt = lease.expiresAt;
        failures = 0;
        retry = retryStart;
        if (!renewed) {
          renewed = true;
          send({ type: 'lease.renewed' });
        }
        schedule(interval);
      },
      (error: unknown) => {
        if (stopped) return;
        failures++;
        const left = expiresAt === undefined ? 0 : expiresAt - clock.now();
        const givingUp = renewed ? left <= 0 : failures >= firstAttempts;
        if (givingUp) {
          stopped = true;
          send({ type: 'lease.lost', error: error instanceof Error ? error : new Error(String(error)) });
          return;
        }
        schedule(renewed ? Math.min(retry, left) : retry);
        retry = Math.min(retry * 2, retryMax);
      },
    );
  };
  attempt();
  return () => {
    stopped = true;
    controller.abort();
    if (timer !== undefined) clock.clearTimeout(timer);
  };
}

const leaseShape: Shape<LeaseOptions> = {
  renewIntervalMs: duration(1),
  retryStartMs: duration(1),
  retryMaxMs: duration(1),
  firstRenewalAttempts: integer(1),
};

const dispatcherShape: Shape<JobDispatcherOptions> = {
  source: withMethods('a JobSource', ['take', 'renew', 'complete']),
  workers: withMethods('a JobWorkerFactory', ['start']),
  slots: integer(1),
  channelTimeoutMs: duration(1),
  cancelTimeoutMs: duration(0),
  killTimeoutMs: duration(0),
  lease: shape(leaseShape),
  clock,
};
