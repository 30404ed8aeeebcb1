// @opentelemetry/api is an optional peer (otel/api.ts): a runtime loads it only when a tracer
// provider may be registered, so a program that registered none pays nothing for it at start-up,
// even where the package is installed (here it is, for otel.test.ts). This file imports the API
// only after its first test, which checks that nothing had loaded it.
import { createRequire } from 'node:module';
import { createRuntime } from '@troupe/core';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
const apiFile = require.resolve('@opentelemetry/api');

describe('OpenTelemetry left unloaded', () => {
  it('a runtime with no tracer provider registered does not load @opentelemetry/api', async () => {
    const runtime = createRuntime({ nodes: { kind: 'inproc', max: 1 }, trace: false });
    try {
      expect(require.cache[apiFile]).toBeUndefined();
    } finally {
      await runtime.shutdown();
    }
    expect(require.cache[apiFile]).toBeUndefined();
  });

  it('a runtime created once a tracer provider is registered loads it', async () => {
    const { trace } = await import('@opentelemetry/api');
    const { BasicTracerProvider } = await import('@opentelemetry/sdk-trace-base');
    trace.setGlobalTracerProvider(new BasicTracerProvider());
    try {
      const runtime = createRuntime({ nodes: { kind: 'inproc', max: 1 }, trace: false });
      await runtime.shutdown();
      expect(require.cache[apiFile]).toBeDefined();
    } finally {
      trace.disable();
    }
  });
});
