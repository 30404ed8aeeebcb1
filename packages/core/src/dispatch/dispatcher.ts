import { type Clock, systemClock } from '@troupe/transport';
import { reportUnhandledError, SafeEmitter } from '@troupe/transport/internal';
import { DashboardFeed } from '../dashboard/feed.js';
import { dispatcherCharts } from '../dashboard/machines.js';
import {
  checkDashboardOptions,
  type Dashboard,
  type DashboardOptions,
  Dashboards,
} from '../dashboard/serve.js';
import type { JobCancelKind } from '../errors.js';
import type { JobControl, JobRequest, JobSource } from '../jobs/source.js';
import type { AcquireOptions } from '../nodes/provider.js';
import {
  boolean,
  checkRequired,
  checkShape,
  clock,
  duration,
  integer,
  type Shape,
  shape,
  withMethods,
} from '../options.js';
import { hasTracerProvider, openTelemetry } from '../otel/api.js';
import { internalSeams, type MachineSeam } from '../seams.js';
import { type TraceTarget, traceOption, traceTarget } from '../system/trace-file.js';
import type { TraceRecorder } from '../trace.js';
import type { JobCompletedEvent, JobDispatcherEvents } from './events.js';
import { type JobSlotState, jobSlotMachine } from './job-slot.machine.js';
import { type LeaseOptions, leaseShape } from './lease-renewer.js';
import { DispatcherSpans } from './otel-spans.js';
import { JobSlot, type SlotWorld } from './slot.js';
import { DispatcherTrace } from './trace.js';
import { type JobWorkerFactory, ProcessJobWorkers } from './workers.js';

export type { JobCompletedEvent, JobDispatcherEvents, JobLeaseEvent, JobStartedEvent } from './events.js';
export type { LeaseOptions } from './lease-renewer.js';

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
  /**
   * Records the dispatcher's timeline (docs/tracing.md): a file path, written as Chrome
   * trace-event JSON when `run` ends and at `shutdown`, or a `TraceRecorder` of yours. Left out,
   * the `TROUPE_TRACE` environment variable names the file, if it is set; `false` records nothing.
   */
  trace?: string | TraceRecorder | false;
  /**
   * Default true: when `@opentelemetry/api` is installed and a tracer provider registered, each
   * job is a span with its steps as children (docs/tracing.md). `false` never loads it.
   */
  openTelemetry?: boolean;
  /** The model checker's broken variants only (`@troupe/core/internal`). */
  [internalSeams]?: JobDispatcherSeams;
}

/** Where a test reaches inside one dispatcher (see `internalSeams`). */
export interface JobDispatcherSeams {
  /**
   * Replaces each slot's machine before the dispatcher provides its effects, e.g. by one whose
   * `cancelSent` reports a result before the worker has exited.
   */
  machine?: MachineSeam<typeof jobSlotMachine>;
}

/**
 * The Azure Pipelines agent's job dispatcher: jobs from a `JobSource`, each in a fresh worker
 * process under a renewable lease, cancellation as a message then a kill, crash output attached,
 * exactly one result per job. Each slot is a `jobSlotMachine` (`slot.ts` gives it the world:
 * source, workers, clock); this class feeds the slots jobs.
 */
export class JobDispatcher extends SafeEmitter<JobDispatcherEvents> {
  readonly #source: JobSource;
  readonly #slots: JobSlot[] = [];
  readonly #stop = new AbortController();
  #running: Promise<void> | undefined;
  readonly #trace: TraceTarget | undefined;
  readonly #clock: Clock;
  /** Who hears of each worker's node context: the timeline and any dashboards. */
  readonly #created = new Set<NonNullable<AcquireOptions['created']>>();
  readonly #dashboards = new Dashboards('the job dispatcher');

  constructor(options: JobDispatcherOptions) {
    super();
    checkShape(options, dispatcherShape, '');
    checkRequired(options as unknown as Record<string, unknown>, ['source'], '', 'a JobSource');
    this.#source = options.source;
    const clock = options.clock ?? systemClock;
    this.#clock = clock;
    const workers = options.workers ?? new ProcessJobWorkers();
    this.#trace = traceTarget(options.trace);
    const trace = this.#trace && new DispatcherTrace(this.#trace.recorder, clock);
    const world: SlotWorld = {
      source: options.source,
      workers,
      acquire: {
        created: (node, how) => {
          for (const created of this.#created) created(node, how);
        },
      },
      clock,
      lease: options.lease ?? {},
      timeouts: {
        channelTimeoutMs: options.channelTimeoutMs ?? 30_000,
        cancelTimeoutMs: options.cancelTimeoutMs ?? 60_000,
        killTimeoutMs: options.killTimeoutMs ?? 5_000,
      },
      seam: options[internalSeams]?.machine,
      announce: (event, ...args) => this.emitSafely(event, ...args),
    };
    if (trace) {
      this.#created.add(trace.workerCreated);
      this.on('state', (slot, state, jobId) => trace.state(slot, state, jobId));
      this.on('lease', (event) => trace.lease(event));
      this.on('started', (event) => trace.started(event));
      this.on('completed', (event) => trace.completed(event));
      if (workers instanceof ProcessJobWorkers) workers.provider.on('exit', trace.workerExit);
    }
    const slots = options.slots ?? 1;
    for (let index = 0; index < slots; index++) this.#slots.push(new JobSlot(index, world));
    const api = options.openTelemetry === false ? undefined : openTelemetry();
    if (api && hasTracerProvider(api)) {
      const spans = new DispatcherSpans(api, (slot) => this.#slots[slot]?.job);
      this.on('state', (slot, state, jobId) => spans.state(slot, state, jobId));
      this.on('lease', (event) => spans.lease(event));
      this.on('started', (event) => spans.started(event));
      this.on('completed', (event) => spans.completed(event));
    }
  }

  /**
   * Serves a live view of this dispatcher on a local web page (docs/dashboard.md): each slot's
   * machine with its current step, the jobs and their results, the workers' nodes. Closed when
   * `run` ends and at `shutdown`. Binds 127.0.0.1 unless `host` says otherwise, which then needs
   * a `token`.
   */
  async serveDashboard(options: DashboardOptions = {}): Promise<Dashboard> {
    checkDashboardOptions(options);
    const feed = new DashboardFeed(this.#clock, 'troupe job dispatcher', dispatcherCharts(jobSlotMachine));
    const onState = (slot: number, state: JobSlotState, jobId: string | undefined) =>
      feed.slotState(slot, state, jobId);
    const onCompleted = ({ slot, job, completion, reason }: JobCompletedEvent) =>
      feed.jobCompleted(slot, job.id, completion?.result ?? 'none', completion?.reason ?? reason);
    this.on('state', onState);
    this.on('completed', onCompleted);
    this.#created.add(feed.nodeCreated);
    for (const [index, slot] of this.#slots.entries()) feed.slotState(index, slot.state, slot.job?.id);
    return this.#dashboards.serve(feed, options, () => {
      this.off('state', onState);
      this.off('completed', onCompleted);
      this.#created.delete(feed.nodeCreated);
    });
  }

  /** The state of each slot's machine. */
  get states(): JobSlotState[] {
    return this.#slots.map((slot) => slot.state);
  }

  /** The jobs running now (taken and not yet completed), by slot. */
  get jobs(): Array<JobRequest | undefined> {
    return this.#slots.map((slot) => slot.job);
  }

  /**
   * Takes jobs from the source and runs them until the source says there will be no more (its
   * `take` resolves `undefined`: a `MemoryJobServer` once it is `close`d and its queue is empty),
   * or until `shutdown`. Resolves when every slot has finished its last job and released its
   * worker. A source that stays open keeps `run` waiting for jobs, as an agent serving a queue
   * should: close the source after adding a batch to run just that batch.
   */
  run(): Promise<void> {
    if (this.#running) return this.#running;
    // A source shared by many agents may bring cancels and metadata updates for the jobs held here.
    const unwatch = this.#source.watch?.((control) => this.#control(control));
    this.#running = Promise.all(this.#slots.map((slot) => this.#feed(slot)))
      .then(() => Promise.all(this.#slots.map((slot) => slot.previous)).then(() => {}))
      .finally(() => {
        unwatch?.();
        return Promise.all([this.#saveTrace(), this.#dashboards.closeAll().catch(reportUnhandledError)]);
      });
    return this.#running;
  }

  /** A control from the source: acted on when a slot runs that very lease (false: not yet). */
  #control(control: JobControl): boolean {
    const slot = this.#slots.find((s) => s.job?.id === control.jobId && s.job.lease === control.lease);
    if (!slot || slot.state === 'idle') return false;
    if (control.type === 'cancel') {
      slot.send({ type: 'job.cancel', kind: 'CancelRequest', reason: control.reason });
      return true;
    }
    // Only a running job's worker can take an update; before that, the source offers it again.
    const event = { type: 'job.metadata', metadata: control.metadata } as const;
    if (!slot.accepts(event)) return false;
    slot.send(event);
    return true;
  }

  /**
   * Runs one job in the first free slot, outside `run`'s loop (the job comes from elsewhere but
   * its lease and result still go through the source). Resolves when it has completed.
   */
  async dispatch(job: JobRequest): Promise<JobCompletedEvent> {
    const slot = this.#slots.find((candidate) => candidate.state === 'idle');
    if (!slot) throw new Error('every slot is busy');
    const done = new Promise<JobCompletedEvent>((resolve) => {
      const onCompleted = (event: JobCompletedEvent) => {
        if (event.job !== job) return;
        this.off('completed', onCompleted);
        resolve(event);
      };
      this.on('completed', onCompleted);
    });
    slot.send({ type: 'job.assigned', job });
    return done;
  }

  /** Cancels a running job. Returns false if no slot runs it. */
  cancel(jobId: string, kind: JobCancelKind = 'CancelRequest', reason = 'cancelled by the user'): boolean {
    const slot = this.#slotOf(jobId);
    slot?.send({ type: 'job.cancel', kind, reason });
    return slot !== undefined;
  }

  /** Forwards a metadata update to a running job's worker. Returns false if no slot runs it. */
  updateMetadata(jobId: string, metadata: Record<string, unknown>): boolean {
    const slot = this.#slotOf(jobId);
    slot?.send({ type: 'job.metadata', metadata });
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
    for (const slot of this.#slots) slot.send({ type: 'job.cancel', kind, reason });
    await Promise.all(this.#slots.map((slot) => slot.whenIdle()));
    await Promise.all(this.#slots.map((slot) => slot.previous));
    await this.#running?.catch(() => {});
    for (const slot of this.#slots) slot.stop();
    await this.#dashboards.closeAll().catch(reportUnhandledError);
    await this.#saveTrace();
  }

  /** A timeline is a diagnosis: one that cannot be written is reported, and fails no run. */
  #saveTrace(): Promise<void> {
    return this.#trace?.end().catch(reportUnhandledError) ?? Promise.resolve();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }

  #slotOf(jobId: string): JobSlot | undefined {
    return this.#slots.find((slot) => slot.job?.id === jobId);
  }

  async #feed(slot: JobSlot): Promise<void> {
    while (!this.#stop.signal.aborted) {
      let job: JobRequest | undefined;
      try {
        job = await this.#source.take(this.#stop.signal);
      } catch (error) {
        if (this.#stop.signal.aborted) return;
        throw error;
      }
      if (!job) return;
      const idle = slot.whenIdle(true);
      slot.send({ type: 'job.assigned', job });
      await idle;
    }
  }
}

const dispatcherShape: Shape<JobDispatcherOptions> = {
  source: withMethods('a JobSource', ['take', 'renew', 'complete']),
  workers: withMethods('a JobWorkerFactory', ['start']),
  slots: integer(1),
  channelTimeoutMs: duration(1),
  cancelTimeoutMs: duration(0),
  killTimeoutMs: duration(0),
  lease: shape(leaseShape),
  clock,
  trace: traceOption,
  openTelemetry: boolean,
};
