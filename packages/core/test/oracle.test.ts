// The result oracle: random DAGs built on a real runtime, every value handed back compared with a
// sequential reference evaluation. The suite used to check that requests ended, never what they
// returned; `ctx.build` handed back [] for a batch that had all finished, and nothing noticed.
import { createRuntime, type Runtime } from '@troupe/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { combine } from './fixtures/oracle-tasks.mjs';

const vertexTask = `${new URL('./fixtures/oracle-tasks.mjs', import.meta.url).href}#vertex`;

interface Graph {
  /** g[n]: n's dependencies, in the order it asks for them (all lower-numbered: acyclic). */
  g: number[][];
  fail: number[];
  mode: number[];
}

interface Build {
  vertices: number[];
  /** Abort the build after this many ms; undefined: never. */
  abortAfterMs: number | undefined;
}

/** What vertex n returns, or 'fails' when it or anything it depends on throws. */
function reference(graph: Graph): Array<number | 'fails'> {
  const out: Array<number | 'fails'> = [];
  for (let n = 0; n < graph.g.length; n++) {
    const values = graph.g[n]!.map((d) => out[d]!);
    out.push(graph.fail.includes(n) || values.includes('fails') ? 'fails' : combine(n, values as number[]));
  }
  return out;
}

const graphs = fc
  .integer({ min: 1, max: 10 })
  .chain((size) =>
    fc.record({
      g: fc.tuple(
        ...Array.from({ length: size }, (_, n) =>
          n === 0
            ? fc.constant([] as number[])
            : fc.shuffledSubarray(
                Array.from({ length: n }, (_, d) => d),
                { minLength: 0, maxLength: Math.min(n, 4) },
              ),
        ),
      ),
      fail: fc.subarray(
        Array.from({ length: size }, (_, n) => n),
        { maxLength: Math.min(size, 2) },
      ),
      mode: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: size, maxLength: size }),
    }),
  )
  .map((graph) => graph as Graph);

const builds = (size: number, cancels: boolean) =>
  fc.array(
    fc.record({
      vertices: fc.array(fc.integer({ min: 0, max: size - 1 }), { minLength: 1, maxLength: 4 }),
      abortAfterMs: cancels
        ? fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined, freq: 3 })
        : fc.constant(undefined),
    }),
    { minLength: 1, maxLength: 4 },
  );

/** Waves of concurrent builds: each wave starts once the one before has settled. */
const scenarios = (cancels: boolean) =>
  graphs.chain((graph) =>
    fc.record({
      graph: fc.constant(graph),
      waves: fc.array(builds(graph.g.length, cancels), { minLength: 1, maxLength: 3 }),
      nodes: fc.integer({ min: 1, max: 3 }),
    }),
  );

let salts = 0;

/**
 * Runs the waves on `runtime` and checks every value: a fulfilled build returns the reference
 * value of each vertex it asked for; a rejected one was aborted itself (and ends with its signal's
 * reason) or names a vertex that fails: another build's abort never reaches it. Afterwards,
 * every vertex built again on the same runtime (cached, rebuilt after a cancel, or new) returns
 * its reference value.
 */
async function check(runtime: Runtime, graph: Graph, waves: Build[][]): Promise<void> {
  const expected = reference(graph);
  const salt = `s${salts++}`;
  const request = (n: number) => ({ task: vertexTask, input: { ...graph, n, salt } });
  for (const wave of waves) {
    const controllers = wave.map(() => new AbortController());
    const outcomes = await Promise.allSettled(
      wave.map(async (build, index) => {
        const controller = controllers[index]!;
        const timer =
          build.abortAfterMs === undefined
            ? undefined
            : setTimeout(() => controller.abort(), build.abortAfterMs);
        try {
          return await runtime.build<number>(build.vertices.map(request), { signal: controller.signal });
        } finally {
          clearTimeout(timer);
        }
      }),
    );
    for (const [index, outcome] of outcomes.entries()) {
      const vertices = wave[index]!.vertices;
      if (outcome.status === 'fulfilled') {
        expect(outcome.value).toEqual(vertices.map((n) => expected[n]));
        continue;
      }
      const error = outcome.reason as Error;
      const firstFailing = vertices.find((n) => expected[n] === 'fails');
      const signal = controllers[index]!.signal;
      if (signal.aborted && error === signal.reason) {
        // Its own abort ended it (unless it had settled first).
      } else {
        // Another build's abort must not reach it: only a failing vertex it needs can.
        expect(firstFailing, `build of ${vertices} failed: ${error.message}`).toBeDefined();
        expect(error.message).toMatch(/vertex \d+ fails/);
      }
    }
  }
  const again = await Promise.allSettled(expected.map((_, n) => runtime.build<number>(request(n))));
  for (const [n, outcome] of again.entries()) {
    if (expected[n] === 'fails') expect(outcome.status).toBe('rejected');
    else expect(outcome).toEqual({ status: 'fulfilled', value: expected[n] });
  }
}

const runs = (numRuns: number) => ({ numRuns, endOnFailure: true });

describe('result oracle: values equal a sequential reference evaluation', () => {
  it('on in-process nodes: random DAGs, orders, overlapping and repeated builds, failures', async () => {
    await fc.assert(
      fc.asyncProperty(scenarios(false), async ({ graph, waves, nodes }) => {
        const runtime = createRuntime({ nodes: { kind: 'inproc', max: nodes } });
        try {
          await check(runtime, graph, waves);
        } finally {
          await runtime.shutdown();
        }
      }),
      runs(60),
    );
  });

  it('on in-process nodes, with builds cancelled at random moments', async () => {
    await fc.assert(
      fc.asyncProperty(scenarios(true), async ({ graph, waves, nodes }) => {
        const runtime = createRuntime({ nodes: { kind: 'inproc', max: nodes } });
        try {
          await check(runtime, graph, waves);
        } finally {
          await runtime.shutdown();
        }
      }),
      runs(40),
    );
  });

  it('on thread nodes, with cancellations: one runtime for many graphs', async () => {
    // Thread nodes are slow to start; one runtime serves every run (each run has its own salt,
    // so nothing is cached across runs), which also tests a long-lived runtime.
    const runtime = createRuntime({ nodes: { kind: 'thread', max: 2 } });
    try {
      await fc.assert(
        fc.asyncProperty(scenarios(true), async ({ graph, waves }) => check(runtime, graph, waves)),
        runs(25),
      );
    } finally {
      await runtime.shutdown();
    }
  });

  it('each successful vertex is built once per runtime, however often and concurrently it is asked for', async () => {
    const counts = () => (globalThis as { __troupeOracle?: Map<string, number> }).__troupeOracle;
    await fc.assert(
      fc.asyncProperty(scenarios(false), async ({ graph, waves, nodes }) => {
        const runtime = createRuntime({ nodes: { kind: 'inproc', max: nodes } });
        const salt = `s${salts}`;
        try {
          await check(runtime, graph, waves);
        } finally {
          await runtime.shutdown();
        }
        const expected = reference(graph);
        for (const [n, value] of expected.entries()) {
          expect(counts()?.get(`${salt}:${n}`)).toBe(value === 'fails' ? undefined : 1);
        }
      }),
      runs(30),
    );
  });
});
