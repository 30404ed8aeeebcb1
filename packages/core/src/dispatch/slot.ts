import type { Clock } from '@troupe/transport';
import { machineInspector, reportUnhandledError, sendIfActive } from '@troupe/transport/internal';
import type { EventEmitter } from 'eventemitter3';
import { type Actor, createActor } from 'xstate';
import { JobWorkerCrashedError } from '../errors.js';
import type { JobRequest, JobSource } from '../jobs/source.js';
import type { AcquireOptions } from '../nodes/provider.js';
import type { MachineSeam } from '../seams.js';
import type { JobDispatcherEvents } from './events.js';
import {
  bindJobSlotEffects,
  type JobSlotEffects,
  type JobSlotEvent,
  type JobSlotState,
  jobSlotMachine,
} from './job-slot.machine.js';
import { type LeaseOptions, renewLease } from './lease-renewer.js';
import type { JobWorkerFactory } from './workers.js';

/** What a dispatcher gives each of its slots: the world the slot's effects act on. */
export interface SlotWorld {
  readonly source: JobSource;
  readonly workers: JobWorkerFactory;
  /** What each worker's node is acquired with (`created`, when the dispatcher records a timeline). */
  readonly acquire: AcquireOptions;
  readonly clock: Clock;
  readonly lease: LeaseOptions;
  readonly timeouts: { channelTimeoutMs: number; cancelTimeoutMs: number; killTimeoutMs: number };
  /** The broken variant's machine, if any (`JobDispatcherSeams.machine`). */
  readonly seam: MachineSeam<typeof jobSlotMachine> | undefined;
  /** Announces on the dispatcher; a listener that throws is reported, not thrown into the slot. */
  readonly announce: <E extends EventEmitter.EventNames<JobDispatcherEvents>>(
    event: E,
    ...args: EventEmitter.EventArgs<JobDispatcherEvents, E>
  ) => void;
}

/**
 * One slot of a `JobDispatcher`: a running `jobSlotMachine` given the world through its effects,
 * with the release of the slot's previous job and who waits for the slot to be idle.
 */
export class JobSlot {
  readonly index: number;
  readonly #actor: Actor<typeof jobSlotMachine>;
  /** The previous job's release (worker gone, output removed): step 1 of the next job waits on it. */
  #previous: Promise<void> = Promise.resolve();
  readonly #idle: Array<() => void> = [];

  constructor(index: number, world: SlotWorld) {
    this.index = index;
    // A broken variant's seam provides its bug on the machine; the slot binds its effects to its
    // own actor (no provide per slot: it would rebuild the machine).
    this.#actor = createActor(world.seam ? world.seam(jobSlotMachine) : jobSlotMachine, {
      inspect: machineInspector(),
      clock: world.clock,
      input: { ...world.timeouts, effects: bindJobSlotEffects(this.#effects(world)) },
    });
    let last: unknown;
    this.#actor.subscribe({
      next: (snapshot) => {
        if (snapshot.value === last) return;
        last = snapshot.value;
        world.announce('state', index, snapshot.value, snapshot.context.job?.id);
        if (snapshot.value === 'idle') for (const resolve of this.#idle.splice(0)) resolve();
      },
      error: reportUnhandledError,
    });
    this.#actor.start();
  }

  get state(): JobSlotState {
    return this.#actor.getSnapshot().value;
  }

  /** The slot's job: the one running, or the last one once the slot is idle again. */
  get job(): JobRequest | undefined {
    return this.#actor.getSnapshot().context.job;
  }

  /** Resolves when the previous job's worker is released. */
  get previous(): Promise<void> {
    return this.#previous;
  }

  /** Whether the slot's machine, as it is now, has a transition for `event`. */
  accepts(event: JobSlotEvent): boolean {
    return this.#actor.getSnapshot().can(event);
  }

  /** Late events, after `stop`, are dropped. */
  send(event: JobSlotEvent): void {
    sendIfActive(this.#actor, event);
  }

  /** Resolves the next time the slot is idle (now, if it is and `next` is false). */
  whenIdle(next = false): Promise<void> {
    if (!next && this.state === 'idle') return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  stop(): void {
    this.#actor.stop();
  }

  #effects({ source, workers, acquire, clock, lease, announce }: SlotWorld): JobSlotEffects {
    const slot = this.index;
    return {
      awaitPrevious: () => this.#previous,
      renewLease: (job, send) =>
        renewLease(source, clock, job, lease, send, (outcome, error) =>
          announce('lease', { job, slot, outcome, ...(error && { error }) }),
        ),
      startWorker: async (job) => {
        const worker = await workers.start(job, acquire);
        worker.onLog((body) => announce('log', job, body));
        return worker;
      },
      sendJob: (worker, job) =>
        worker.send('JobRequest', {
          jobId: job.id,
          job: job.job,
          message: job.message,
          ...(job.metadata && { metadata: { ...job.metadata } }),
        }),
      sendCancel: (worker, job, stop) =>
        worker.send('JobCancel', { jobId: job.id, kind: stop.kind, reason: stop.reason }),
      report: (job, completion) => source.complete(job, completion),
      announceStarted: (job, pid) => announce('started', { job, slot, pid }),
      announceCompleted: (job, completion) => announce('completed', { job, slot, completion }),
      announceUnreported: (job, reason) =>
        announce('completed', { job, slot, completion: undefined, ...(reason && { reason }) }),
      announceReportFailed: (job, error) =>
        announce(
          'jobError',
          job,
          new Error(`could not report the result of job ${job.id}: ${(error as Error)?.message}`, {
            cause: error,
          }),
        ),
      announceCrash: (job, { pid, exit, output }) =>
        announce('jobError', job, new JobWorkerCrashedError(job.id, pid, exit, output)),
      forwardMetadata: (worker, job, metadata) => {
        worker
          .send('MetadataUpdate', { requestId: job.id, metadata })
          .catch((error: unknown) =>
            announce(
              'jobError',
              job,
              new Error(`could not forward metadata to job ${job.id}: ${(error as Error).message}`),
            ),
          );
      },
      killWorker: (worker) => worker.kill(),
      releaseWorker: (worker, job) => {
        this.#previous = worker.dispose().catch((error: unknown) => {
          announce(
            'jobError',
            job,
            new Error(`could not release the worker of job ${job.id}`, { cause: error }),
          );
        });
      },
    };
  }
}
