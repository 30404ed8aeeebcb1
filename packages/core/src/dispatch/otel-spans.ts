// A job dispatcher's spans through OpenTelemetry, as its timeline draws them (dispatch/trace.ts):
// a span per job, from its slot taking it to the slot being idle again, with the job, its code,
// its slot and its worker as attributes and a child span per step of the slot's machine; lease
// renewals, the start, the cancel and the result as events of the job's span.
import type { Context, Span, Tracer } from '@opentelemetry/api';
import { RUNTIME_VERSION } from '@troupe/transport';
import type { JobRequest } from '../jobs/source.js';
import type { OpenTelemetryApi } from '../otel/api.js';
import type { JobCompletedEvent, JobLeaseEvent, JobStartedEvent } from './events.js';
import type { JobSlotState } from './job-slot.machine.js';
import { statePath } from './trace.js';

interface SlotSpans {
  job: Span | undefined;
  context: Context | undefined;
  step: Span | undefined;
}

export class DispatcherSpans {
  readonly #api: OpenTelemetryApi;
  readonly #tracer: Tracer;
  /** The job a slot runs now. */
  readonly #jobOf: (slot: number) => JobRequest | undefined;
  readonly #slots = new Map<number, SlotSpans>();

  constructor(api: OpenTelemetryApi, jobOf: (slot: number) => JobRequest | undefined) {
    this.#api = api;
    this.#tracer = api.trace.getTracer('@troupe/core', RUNTIME_VERSION);
    this.#jobOf = jobOf;
  }

  state(slot: number, state: JobSlotState, jobId: string | undefined): void {
    const spans = this.#slot(slot);
    const path = statePath(state);
    const leaf = path.slice(path.lastIndexOf('.') + 1);
    spans.step?.end();
    spans.step = undefined;
    if (leaf === 'idle') {
      spans.job?.end();
      spans.job = undefined;
      spans.context = undefined;
      return;
    }
    if (!spans.job) {
      const job = this.#jobOf(slot);
      const parent = this.#api.context.active();
      spans.job = this.#tracer.startSpan(
        'troupe job',
        {
          attributes: {
            'troupe.job.id': jobId ?? job?.id ?? '',
            'troupe.job.slot': slot,
            ...(job && { 'troupe.job': job.job }),
          },
        },
        parent,
      );
      spans.context = this.#api.trace.setSpan(parent, spans.job);
    }
    spans.step = this.#tracer.startSpan(leaf, { attributes: { 'troupe.job.state': path } }, spans.context);
  }

  lease({ slot, outcome, error }: JobLeaseEvent): void {
    this.#slot(slot).job?.addEvent(`lease ${outcome}`, error ? { error: error.message } : undefined);
  }

  started({ slot, pid }: JobStartedEvent): void {
    const job = this.#slot(slot).job;
    job?.addEvent('started');
    if (pid !== undefined) job?.setAttribute('troupe.node.pid', pid);
  }

  completed({ slot, completion, reason }: JobCompletedEvent): void {
    const job = this.#slot(slot).job;
    const result = completion?.result ?? 'none';
    job?.setAttribute('troupe.job.result', result);
    const why = completion?.reason ?? reason;
    if (result !== 'Succeeded' && result !== 'SucceededWithIssues')
      job?.setStatus({ code: this.#api.SpanStatusCode.ERROR, ...(why !== undefined && { message: why }) });
  }

  #slot(index: number): SlotSpans {
    let spans = this.#slots.get(index);
    if (!spans) {
      spans = { job: undefined, context: undefined, step: undefined };
      this.#slots.set(index, spans);
    }
    return spans;
  }
}
