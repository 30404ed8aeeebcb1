// A job dispatcher's timeline: its slots' machine states and what it already announces (leases,
// starts, results), turned into tracks of a TraceRecorder on the dispatcher's injected clock.
import type { Clock } from '@troupe/transport';
import { NodeTimeline } from '../nodes/trace.js';
import type { OpenSpan, TraceRecorder, TraceTrack } from '../trace.js';
import type { JobCompletedEvent, JobLeaseEvent, JobStartedEvent } from './events.js';
import type { JobSlotState } from './job-slot.machine.js';

/** The states a worker is killed on entering: a cancel that timed out, or a job never sent. */
const KILLING = new Set(['killing', 'abortingUnsent', 'discarding']);

interface SlotTracks {
  readonly job: TraceTrack;
  readonly steps: TraceTrack;
  jobSpan: OpenSpan | undefined;
  step: OpenSpan | undefined;
  leaf: string;
}

/**
 * Records one dispatcher: a process per slot with a track of its jobs (one span per job, from
 * the slot taking it to the slot being idle again) and a track of the slot machine's steps
 * (awaiting the previous job, first renewal, starting the worker, sending the job, running,
 * sending the cancel, awaiting the exit, killing, finishing), with the lease renewals, the job's
 * start, the cancel sent, the cancel timeout, the kill and the result as instants; and a process
 * per worker node, as the runtime draws its nodes (`NodeTimeline`).
 */
export class DispatcherTrace {
  readonly #recorder: TraceRecorder;
  readonly #clock: Clock;
  readonly #slots = new Map<number, SlotTracks>();
  readonly #workers: NodeTimeline;

  constructor(recorder: TraceRecorder, clock: Clock) {
    this.#recorder = recorder;
    this.#clock = clock;
    this.#workers = new NodeTimeline(recorder, clock, { runs: false });
  }

  /** A worker's node context exists (`AcquireOptions.created`): its tracks start with its launch. */
  get workerCreated(): NodeTimeline['created'] {
    return this.#workers.created;
  }

  /** A process worker's shutdown steps (`ProcessNodeProviderEvents.exit`). */
  get workerExit(): NodeTimeline['exitStep'] {
    return this.#workers.exitStep;
  }

  state(slot: number, state: JobSlotState, jobId: string | undefined): void {
    const tracks = this.#slot(slot);
    const now = this.#clock.now();
    const path = statePath(state);
    const leaf = path.slice(path.lastIndexOf('.') + 1);
    tracks.step?.close(now);
    tracks.step = undefined;
    if (tracks.leaf === 'sendingCancel' && leaf === 'awaitingExit') tracks.steps.instant('cancel sent', now);
    if (tracks.leaf === 'awaitingExit' && leaf === 'killing') tracks.steps.instant('cancel timeout', now);
    if (KILLING.has(leaf)) tracks.steps.instant('kill', now);
    tracks.leaf = leaf;
    if (leaf === 'idle') {
      tracks.jobSpan?.close(now);
      tracks.jobSpan = undefined;
      return;
    }
    tracks.jobSpan ??= tracks.job.open(jobId ?? 'job', now, { job: jobId });
    tracks.step = tracks.steps.open(leaf, now, { state: path });
  }

  lease({ slot, outcome, error }: JobLeaseEvent): void {
    this.#slot(slot).steps.instant(`lease ${outcome}`, this.#clock.now(), error && { error: error.message });
  }

  started({ slot, pid }: JobStartedEvent): void {
    this.#slot(slot).steps.instant('started', this.#clock.now(), pid === undefined ? undefined : { pid });
  }

  completed({ slot, completion, reason }: JobCompletedEvent): void {
    this.#slot(slot).steps.instant('result', this.#clock.now(), {
      result: completion?.result ?? 'none',
      ...((completion?.reason ?? reason) !== undefined && { reason: completion?.reason ?? reason }),
    });
  }

  #slot(index: number): SlotTracks {
    let tracks = this.#slots.get(index);
    if (!tracks) {
      const process = this.#recorder.process(`job slot ${index}`);
      tracks = {
        job: process.thread('jobs'),
        steps: process.thread('steps'),
        jobSpan: undefined,
        step: undefined,
        leaf: 'idle',
      };
      this.#slots.set(index, tracks);
    }
    return tracks;
  }
}

/** A machine state value as a dotted path: `leased.withWorker.running`. */
export function statePath(state: unknown): string {
  if (typeof state === 'string') return state;
  const [key, inner] = Object.entries(state as Record<string, unknown>)[0]!;
  return `${key}.${statePath(inner)}`;
}
