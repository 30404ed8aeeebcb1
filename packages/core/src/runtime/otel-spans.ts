// A runtime's spans through OpenTelemetry: the timeline's spans (runtime/trace.ts), sent to the
// user's tracer provider as they end. A request is a span from its submission to its end, with a
// child span per state (waiting, executing on a node, blocked, yielded...); a request a task asks
// for (`ctx.build`) is a child of the asking request's span, one submitted by `runtime.build` a
// child of the caller's active span. A node is a span from its launch to its close, with a child
// per state of its connection. The request's span goes with its BuildRequest, so the spans a task
// makes on its node nest under it.
import type { Context, Span, Tracer } from '@opentelemetry/api';
import { RUNTIME_VERSION } from '@troupe/transport';
import type { NodeContext } from '../nodes/context.js';
import { CONNECTION_SPANS } from '../nodes/trace.js';
import { carrierOf, type OpenTelemetryApi } from '../otel/api.js';
import type { TraceCarrier } from '../packets.js';
import { FINISHED, type RequestState, type ScheduledRequest } from '../scheduler/request.js';

interface RequestSpans {
  readonly span: Span;
  readonly context: Context;
  state: Span | undefined;
}

interface NodeSpans {
  readonly span: Span;
  readonly context: Context;
  state: Span | undefined;
}

/** The task's name without its module: what a span is called (a few names, not one per input). */
function taskName(request: ScheduledRequest): string {
  const task = request.spec.task;
  return task.slice(task.lastIndexOf('#') + 1) || task;
}

export class RuntimeSpans {
  readonly #api: OpenTelemetryApi;
  readonly #tracer: Tracer;
  /** The request whose `ctx.build` is being submitted, if one is. */
  readonly #asking: () => string | undefined;
  readonly #requests = new Map<string, RequestSpans>();
  readonly #nodes = new Map<string, NodeSpans>();

  constructor(api: OpenTelemetryApi, asking: () => string | undefined) {
    this.#api = api;
    this.#tracer = api.trace.getTracer('@troupe/core', RUNTIME_VERSION);
    this.#asking = asking;
  }

  /** Every request state change (the scheduler's `transition` event). */
  request(request: ScheduledRequest, from: RequestState | 'new', to: RequestState): void {
    let spans = this.#requests.get(request.id);
    if (from === 'new' || !spans) {
      const asker = this.#asking();
      const parent =
        (asker === undefined ? undefined : this.#requests.get(asker)?.context) ?? this.#api.context.active();
      const span = this.#tracer.startSpan(
        taskName(request),
        { attributes: { 'troupe.request.id': request.id, 'troupe.task': request.spec.task } },
        parent,
      );
      spans = { span, context: this.#api.trace.setSpan(parent, span), state: undefined };
      this.#requests.set(request.id, spans);
    }
    spans.state?.end();
    spans.state = undefined;
    if (FINISHED.has(to)) {
      this.#requests.delete(request.id);
      spans.span.setAttribute('troupe.request.outcome', to);
      if (to !== 'completed')
        spans.span.setStatus({ code: this.#api.SpanStatusCode.ERROR, message: request.error?.message ?? to });
      spans.span.end();
      return;
    }
    const onNode = to === 'executing' && request.node !== undefined;
    if (onNode) spans.span.setAttribute('troupe.node', request.node!);
    spans.state = this.#tracer.startSpan(
      to,
      onNode ? { attributes: { 'troupe.node': request.node! } } : {},
      spans.context,
    );
  }

  /** What goes with a request to its node: its span's context (BuildRequest `traceContext`). */
  readonly carrier = (request: ScheduledRequest): TraceCarrier | undefined => {
    const spans = this.#requests.get(request.id);
    return spans && carrierOf(spans.span);
  };

  /** A node context exists (`AcquireOptions.created`) or joined the pool unannounced. */
  node(node: NodeContext, how: 'launched' | 'reused' | 'joined'): void {
    if (this.#nodes.has(node.id)) return;
    const span = this.#tracer.startSpan(
      'troupe node',
      { attributes: { 'troupe.node': node.id, 'troupe.node.kind': node.kind, 'troupe.node.start': how } },
      this.#api.ROOT_CONTEXT,
    );
    const spans: NodeSpans = {
      span,
      context: this.#api.trace.setSpan(this.#api.ROOT_CONTEXT, span),
      state: undefined,
    };
    this.#nodes.set(node.id, spans);
    if (how !== 'joined')
      spans.state = this.#tracer.startSpan(how === 'reused' ? 'reuse' : 'launch', {}, spans.context);
    node.on('state', (region, state) => {
      if (region === 'exitPacket') {
        spans.span.addEvent(`exit packet ${state}`);
        return;
      }
      spans.state?.end();
      spans.state = undefined;
      const name = CONNECTION_SPANS[state];
      if (name) spans.state = this.#tracer.startSpan(name, {}, spans.context);
      else if (state === 'closed' || state === 'failed') {
        if (state === 'failed') spans.span.setStatus({ code: this.#api.SpanStatusCode.ERROR });
        spans.span.end();
        this.#nodes.delete(node.id);
      }
    });
  }
}
