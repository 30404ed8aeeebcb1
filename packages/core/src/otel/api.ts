// OpenTelemetry, when the user has it. @opentelemetry/api is an optional peer dependency: it is
// loaded the first time a runtime, a dispatcher or a node asks, so a program without it loads
// nothing more and sees no error, and one with it but no tracer provider registered gets no spans
// and no listeners. Trace context crosses to nodes as W3C `traceparent`/`tracestate`
// strings, written here rather than by the user's propagator so that it works whichever (or
// none) they registered.
import { createRequire } from 'node:module';
import type * as Api from '@opentelemetry/api';
import { TRACEPARENT, type TraceCarrier } from '../packets.js';

export type OpenTelemetryApi = typeof Api;

// Named so that a bundler leaves the call alone: the user's copy, where it is installed, is loaded.
const loadPackage = createRequire(import.meta.url);
let looked = false;
let found: OpenTelemetryApi | undefined;

/**
 * The API if it is installed, loaded the first time something asks (once per process); undefined
 * if it is not. A synchronous load, not `import()`: a runtime must know before its first request
 * whether to trace it, and an await there would put real I/O in the middle of a simulated run,
 * where nothing outside the simulator may move. Node ≥ 20.19 loads an ES module this way too.
 */
export function openTelemetry(): OpenTelemetryApi | undefined {
  if (!looked) {
    looked = true;
    try {
      found = loadPackage('@opentelemetry/api') as OpenTelemetryApi;
    } catch {
      found = undefined;
    }
  }
  return found;
}

const OTEL_GLOBAL = Symbol.for('opentelemetry.js.api.1');

/**
 * Whether a global tracer provider may be registered, known without loading the API: registering
 * one (`trace.setGlobalTracerProvider`, which every SDK's `register()` calls) puts it under the
 * API's global key, `Symbol.for('opentelemetry.js.api.1')` for the 1.x the peer range allows. With
 * nothing there, `hasTracerProvider` would say false, so a runtime need not load the API (a
 * synchronous CommonJS load, ~20 ms of a runtime's start where it is installed) only to learn that.
 */
export function mayHaveTracerProvider(): boolean {
  const global = (globalThis as Record<symbol, { trace?: unknown } | undefined>)[OTEL_GLOBAL];
  return global?.trace !== undefined;
}

/** Whether the user registered a tracer provider (the API's own default records nothing). */
export function hasTracerProvider(api: OpenTelemetryApi): boolean {
  const provider = api.trace.getTracerProvider();
  return (
    !(provider instanceof api.ProxyTracerProvider) || provider.getDelegateTracer('@troupe/core') !== undefined
  );
}

/** `span`'s context as it goes to a node. */
export function carrierOf(span: Api.Span): TraceCarrier {
  const { traceId, spanId, traceFlags, traceState } = span.spanContext();
  const carrier: TraceCarrier = {
    traceparent: `00-${traceId}-${spanId}-${(traceFlags & 0xff).toString(16).padStart(2, '0')}`,
  };
  const state = traceState?.serialize();
  if (state) carrier.tracestate = state;
  return carrier;
}

/** The context a node runs a task in: the host's span as its (remote) parent. */
export function contextOf(api: OpenTelemetryApi, carrier: TraceCarrier): Api.Context {
  const parts = TRACEPARENT.exec(carrier.traceparent);
  // A version this code does not know may mean other fields: run the task outside any trace.
  if (parts?.[1] !== '00') return api.ROOT_CONTEXT;
  return api.trace.setSpanContext(api.ROOT_CONTEXT, {
    traceId: parts[2]!,
    spanId: parts[3]!,
    traceFlags: Number.parseInt(parts[4]!, 16),
    isRemote: true,
    ...(carrier.tracestate !== undefined && { traceState: api.createTraceState(carrier.tracestate) }),
  });
}
