// A simulated build recorded on a timeline, shared by the timeline's tests: the fixture tasks take
// virtual time on a VirtualClock the test shares with them, so each build's trace is exact.
import { createRuntime, type RequestLike, type TraceFileContents, TraceRecorder } from '@troupe/core';
import { SeededRandom, VirtualClock } from '@troupe/testing';

const tasks = new URL('../fixtures/trace-tasks.mjs', import.meta.url).href;
export const task = (name: string) => `${tasks}#${name}`;

/**
 * In-process nodes import the task module through Node's loader, real I/O during which the
 * simulated clock would move on: load it once first (in a `beforeAll`), so every traced build
 * finds it loaded.
 */
export async function preloadTraceTasks(): Promise<void> {
  const runtime = createRuntime({ nodes: { kind: 'inproc', max: 1 } });
  await runtime.build(
    ['compile', 'bundle', 'fetchData'].map((name) => ({
      task: task(name),
      input: { id: 'x', ms: 0, asks: [] },
    })),
  );
  await runtime.shutdown();
}

/** Moves the virtual clock to its next timer whenever nothing else can run, until `work` settles. */
async function simulate<T>(clock: VirtualClock, work: Promise<T>): Promise<T> {
  let settled = false;
  const result = work.finally(() => {
    settled = true;
  });
  result.catch(() => {});
  while (!settled) {
    await new Promise((resolve) => setImmediate(resolve));
    // A module still loading (real I/O) arms no timer: wait for it in real time, the clock still.
    if (!settled && !clock.fireNext()) await new Promise((resolve) => setTimeout(resolve, 1));
  }
  return result;
}

/** A small declared graph: core; util and ui on core; app on both, asking for docs itself. */
export function graph(): RequestLike[] {
  const compile = (id: string, ms: number, deps: RequestLike[] = []): RequestLike => ({
    task: task('compile'),
    input: { id, ms },
    deps,
  });
  const core = compile('core', 3);
  const util = compile('util', 2, [core]);
  const ui = compile('ui', 4, [core]);
  const app: RequestLike = {
    task: task('bundle'),
    input: { id: 'app', ms: 1, asks: [{ id: 'docs', ms: 2 }] },
    deps: [util, ui],
  };
  return [app, { task: task('fetchData'), input: { id: 'data', ms: 5 } }];
}

/** Builds `requests` on 2 in-process nodes in virtual time, recording; the trace as written. */
export async function tracedBuild(
  requests: RequestLike[],
  options: { prefetch?: number; seed?: number } = {},
): Promise<{ trace: TraceFileContents; values: unknown[] | Error }> {
  const clock = new VirtualClock();
  (globalThis as { __troupeTrace?: unknown }).__troupeTrace = { clock };
  const recorder = new TraceRecorder();
  const runtime = createRuntime({
    nodes: { kind: 'inproc', max: 2, ...(options.prefetch !== undefined && { prefetch: options.prefetch }) },
    clock,
    random: new SeededRandom(options.seed ?? 7),
    trace: recorder,
  });
  let values: unknown[] | Error;
  try {
    values = await simulate(clock, runtime.build(requests));
  } catch (error) {
    values = error as Error;
  } finally {
    await simulate(clock, runtime.shutdown());
    (globalThis as { __troupeTrace?: unknown }).__troupeTrace = undefined;
  }
  return { trace: JSON.parse(JSON.stringify(recorder)) as TraceFileContents, values };
}
