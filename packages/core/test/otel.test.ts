// OpenTelemetry (docs/tracing.md): with a tracer provider registered, a runtime's spans reach it
// with the request, task and node as attributes, and a task's own spans on a real thread node and
// a real process node nest under its request's span, which nests under the caller's span. The
// host's spans are collected with the SDK's in-memory exporter; the node's are reported by the
// task itself (a node is a separate OpenTelemetry world).
import { context, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import {
  createRuntime,
  JobDispatcher,
  MalformedPacketError,
  MemoryJobServer,
  type RuntimeOptions,
} from '@troupe/core';
import { InProcessJobWorkers, PacketRegistry, PacketType } from '@troupe/core/internal';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const tasks = new URL('./fixtures/otel-tasks.mjs', import.meta.url).href;
const jobs = new URL('./fixtures/jobs.mjs', import.meta.url).href;

interface SpanIds {
  traceId: string;
  spanId: string;
  parent: string | undefined;
}
interface Reported {
  node: number;
  work: SpanIds;
  inner: SpanIds;
}

async function build<T>(
  nodes: RuntimeOptions['nodes'],
  work: (runtime: ReturnType<typeof createRuntime>) => Promise<T>,
  options: Partial<RuntimeOptions> = {},
): Promise<T> {
  const runtime = createRuntime({ nodes, trace: false, ...options });
  try {
    return await work(runtime);
  } finally {
    await runtime.shutdown();
  }
}

describe('OpenTelemetry', () => {
  it('without a tracer provider, nothing goes to the node: its spans are its own', async () => {
    const reported = await build({ kind: 'thread', max: 1 }, (runtime) =>
      runtime.build<Reported>({ task: `${tasks}#traced`, input: { id: 'alone' } }),
    );
    expect(reported.work.parent).toBeUndefined();
    expect(reported.inner.parent).toBe(reported.work.spanId);
  });

  describe('with a tracer provider registered', () => {
    const exporter = new InMemorySpanExporter();
    beforeAll(() => {
      trace.setGlobalTracerProvider(
        new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
      );
      context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    });
    afterAll(() => {
      trace.disable();
      context.disable();
    });

    const spanId = (span: ReadableSpan) => span.spanContext().spanId;
    const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

    for (const kind of ['thread', 'process'] as const) {
      it(`a task's own spans on a ${kind} node nest under its request, under the caller's span`, async () => {
        exporter.reset();
        const tracer = trace.getTracer('otel.test');
        const id = `on-${kind}`;
        const reported = await build({ kind, max: 1 }, (runtime) =>
          tracer.startActiveSpan('my build', async (span) => {
            try {
              return await runtime.build<Reported>({ task: `${tasks}#traced`, input: { id } });
            } finally {
              span.end();
            }
          }),
        );
        if (kind === 'process') expect(reported.node).not.toBe(process.pid);
        const spans = exporter.getFinishedSpans();
        const mine = spans.find((span) => span.name === 'my build')!;
        const request = spans.find((span) => span.name === 'traced')!;
        // The request's span: under the caller's, in the same trace, with what a reader filters on.
        expect(parentOf(request)).toBe(spanId(mine));
        expect(request.spanContext().traceId).toBe(mine.spanContext().traceId);
        expect(request.attributes).toEqual({
          'troupe.request.id': expect.stringMatching(/^req-/),
          'troupe.task': `${tasks}#traced`,
          'troupe.node': expect.stringMatching(/^node-/),
          'troupe.request.outcome': 'completed',
        });
        // The task's spans on the node: its work under the request's span, across an await.
        expect(reported.work).toEqual({
          traceId: mine.spanContext().traceId,
          spanId: expect.any(String),
          parent: spanId(request),
        });
        expect(reported.inner.parent).toBe(reported.work.spanId);
        // The request's states as its children, the run on the node that the node span names.
        const states = spans.filter((span) => parentOf(span) === spanId(request));
        expect(states.map((span) => span.name)).toEqual(['waiting', 'executing']);
        const node = spans.find((span) => span.name === 'troupe node')!;
        expect(node.attributes).toMatchObject({ 'troupe.node.kind': kind, 'troupe.node.start': 'launched' });
        expect(states[1]!.attributes['troupe.node']).toBe(node.attributes['troupe.node']);
        const connection = spans.filter((span) => parentOf(span) === spanId(node)).map((span) => span.name);
        expect(connection.slice(0, 3)).toEqual(['launch', 'handshake', 'idle']);
        expect(node.events.map((event) => event.name)).toContain('exit packet sent');
      });
    }

    it('a request a task asks for (ctx.build) nests under the asking request', async () => {
      exporter.reset();
      const reported = await build({ kind: 'thread', max: 1 }, (runtime) =>
        runtime.build<Reported>({ task: `${tasks}#asks`, input: { id: 'parent' } }),
      );
      const spans = exporter.getFinishedSpans();
      const asker = spans.find((span) => span.name === 'asks')!;
      const child = spans.find((span) => span.name === 'traced')!;
      expect(parentOf(asker)).toBeUndefined();
      expect(parentOf(child)).toBe(spanId(asker));
      expect(reported.work.parent).toBe(spanId(child));
      // Its own states and the request it asked for, side by side under it.
      const under = spans.filter((span) => parentOf(span) === spanId(asker)).map((span) => span.name);
      expect(under.sort()).toEqual(['blocked', 'executing', 'executing', 'ready', 'traced', 'waiting']);
    });

    it('each job is a span with its id, code and slot, its steps as children, its result', async () => {
      exporter.reset();
      const server = new MemoryJobServer();
      const dispatcher = new JobDispatcher({
        source: server,
        workers: new InProcessJobWorkers(),
        trace: false,
      });
      server.add({ id: 'one', job: `${jobs}#resultOf`, message: { result: 'Succeeded' } });
      server.add({ id: 'two', job: `${jobs}#resultOf`, message: { result: 'Skipped' } });
      server.close();
      await dispatcher.run();
      await dispatcher.shutdown();
      const spans = exporter.getFinishedSpans();
      const jobSpans = spans.filter((span) => span.name === 'troupe job');
      expect(jobSpans.map((span) => span.attributes)).toEqual([
        expect.objectContaining({
          'troupe.job.id': 'one',
          'troupe.job': `${jobs}#resultOf`,
          'troupe.job.slot': 0,
          'troupe.job.result': 'Succeeded',
        }),
        expect.objectContaining({ 'troupe.job.id': 'two', 'troupe.job.result': 'Skipped' }),
      ]);
      expect(jobSpans[1]!.status.code).toBe(SpanStatusCode.ERROR);
      const steps = spans.filter((span) => parentOf(span) === spanId(jobSpans[0]!)).map((span) => span.name);
      expect(steps).toEqual([
        'awaitingPrevious',
        'firstRenewal',
        'startingWorker',
        'sendingJob',
        'running',
        'finishing',
      ]);
      expect(jobSpans[0]!.events.map((event) => event.name)).toEqual(['lease renewed', 'started']);
    });

    it('openTelemetry: false sends nothing, with a provider registered', async () => {
      exporter.reset();
      const reported = await build(
        { kind: 'thread', max: 1 },
        (runtime) => runtime.build<Reported>({ task: `${tasks}#traced`, input: { id: 'off' } }),
        { openTelemetry: false },
      );
      expect(exporter.getFinishedSpans()).toEqual([]);
      expect(reported.work.parent).toBeUndefined();
    });
  });
});

describe('the trace context on the wire', () => {
  it('a BuildRequest carries a W3C traceparent, and one that is not is malformed', () => {
    const registry = new PacketRegistry();
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const body = { id: 'r', task: 't', input: 1, traceContext: { traceparent, tracestate: 'a=1' } };
    expect(registry.decode(PacketType.BuildRequest, body).body).toEqual(body);
    for (const traceContext of [
      'nope',
      { traceparent: '00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01' },
      { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01' },
      { traceparent, tracestate: 'x'.repeat(513) },
      { tracestate: 'a=1' },
    ])
      expect(() => registry.decode(PacketType.BuildRequest, { ...body, traceContext })).toThrow(
        MalformedPacketError,
      );
  });
});
