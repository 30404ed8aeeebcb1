import { createRuntime, TraceRecorder } from '@troupe/core';
import { buildGraph } from '@troupe/example-build-graph';
import { floorMakespan } from '../floor.js';
import { alternate, median, type Row, row, type SuiteOptions } from '../measure.js';

/**
 * Dependent requests at wire speed (issue 13). A task that `ctx.build`s another request leaves its
 * node (BuildBlocked) and is resumed there (BuildUnblocked): one round trip between node and host
 * plus the scheduler's decision. These rows measure that path on thread and process nodes.
 */

const tasks = new URL('../../workers/deps.mjs', import.meta.url).href;
const leaf = `${tasks}#leaf`;
const plain = `${tasks}#plain`;
const dependent = `${tasks}#dependent`;

type Kind = 'thread' | 'process';

/**
 * Microseconds per request on one warm node, of `count` requests built together: `dependent` ones
 * (each asks for a leaf that has already finished: one block and one resume) or `plain` ones.
 * The node runs them one at a time, so the difference per request is the block and the resume.
 */
async function perRequest(
  runtime: ReturnType<typeof createRuntime>,
  task: string,
  count: number,
  round: string,
): Promise<number> {
  const requests = Array.from({ length: count }, (_, i) => ({
    task,
    input: { round, i, leaf: i },
  }));
  const start = performance.now();
  await runtime.build(requests);
  return ((performance.now() - start) * 1000) / count;
}

async function blockAndResume(
  kind: Kind,
  count: number,
  rounds: number,
): Promise<{ baseline: number; value: number }> {
  // No request sent ahead (prefetch 0, where the default would stage behind these short tasks):
  // each request's path is then the same round trip, and the difference is the block and resume.
  const runtime = createRuntime({ nodes: { kind, max: 1, prefetch: 0 } });
  try {
    // The leaves finish first (the dependents find them done), and both paths are warmed up.
    await runtime.build(Array.from({ length: count }, (_, i) => ({ task: leaf, input: i })));
    await perRequest(runtime, plain, count, 'warm');
    await perRequest(runtime, dependent, count, 'warm');
    let round = 0;
    return await alternate(
      rounds,
      () => perRequest(runtime, plain, count, `p${round}`),
      () => perRequest(runtime, dependent, count, `d${round++}`),
    );
  } finally {
    await runtime.shutdown();
  }
}

/**
 * The cost of recording the timeline (docs/tracing.md): the same dependent requests on two warm
 * runtimes of one thread node each, one recording into a `TraceRecorder` and one not (`trace:
 * false`, whatever TROUPE_TRACE says), alternately. µs per request, without and with.
 */
async function recordingCost(count: number, rounds: number): Promise<{ baseline: number; value: number }> {
  const bare = createRuntime({ nodes: { kind: 'thread', max: 1, prefetch: 0 }, trace: false });
  const recorded = createRuntime({
    nodes: { kind: 'thread', max: 1, prefetch: 0 },
    trace: new TraceRecorder(),
  });
  try {
    for (const runtime of [bare, recorded]) {
      await runtime.build(Array.from({ length: count }, (_, i) => ({ task: leaf, input: i })));
      await perRequest(runtime, dependent, count, 'warm');
    }
    let round = 0;
    return await alternate(
      rounds,
      () => perRequest(bare, dependent, count, `b${round}`),
      () => perRequest(recorded, dependent, count, `r${round++}`),
    );
  } finally {
    await Promise.all([bare.shutdown(), recorded.shutdown()]);
  }
}

/**
 * The build-graph example's generated graph of `projects` projects of ~1 ms of CPU each, every one
 * a request that builds its dependencies first, on 2 nodes started for the run, with the runtime's
 * default prefetch ('auto'): makespan (node start included), its lower bound, max(critical path,
 * work ÷ nodes), and, alternating with it round by round, the floor: the same graph on two bare
 * nodes that only spin (bench/src/floor.ts), what this machine itself costs.
 */
async function graphMakespan(
  kind: Kind,
  projects: number,
  rounds: number,
): Promise<{ lowerBound: number; troupe: number; floor: number }> {
  const makespans: number[] = [];
  const floors: number[] = [];
  let lowerBound = 0;
  for (let i = 0; i < rounds; i++) {
    floors.push(await floorMakespan(kind, projects, 1));
    const summary = await buildGraph({
      projects,
      nodes: 2,
      kind,
      reuse: false,
      workMs: 1,
      mode: 'requests',
      yield: true,
      simulate: false,
    });
    if (summary.error || !summary.verified) throw new Error(summary.error ?? 'the build was not verified');
    makespans.push(summary.makespanMs);
    lowerBound = summary.lowerBoundMs;
  }
  return { lowerBound, troupe: median(makespans), floor: median(floors) };
}

export async function requestsSuite({ quick }: SuiteOptions): Promise<Row[]> {
  const count = quick ? 200 : 2_000;
  const rounds = quick ? 1 : 5;
  const projects = quick ? 80 : 800;
  const rows: Row[] = [];
  for (const kind of ['thread', 'process'] as const) {
    rows.push(
      row(
        'requests',
        `a request that ctx.builds a finished one (block + resume) vs one that does not, 1 ${kind} node`,
        'µs/request',
        await blockAndResume(kind, count, rounds),
        // The goal is the difference, the block and the resume: at most 100 µs on a thread node.
        kind === 'thread' ? 'value − baseline <= 100 µs' : undefined,
      ),
    );
  }
  rows.push(
    row(
      'requests',
      'a request that ctx.builds a finished one, with the timeline recorded vs without, 1 thread node',
      'µs/request',
      // Short rounds, many of them: on a loaded machine, drift between two long rounds is larger
      // than what is measured.
      await recordingCost(quick ? count : count / 4, quick ? 1 : 25),
      '<= 1.05',
    ),
  );
  for (const kind of ['thread', 'process'] as const) {
    const { lowerBound, troupe, floor } = await graphMakespan(kind, projects, rounds);
    rows.push(
      row(
        'requests',
        `${projects} dependent projects × 1 ms on 2 ${kind} nodes, node start included, vs max(critical path, work ÷ nodes)`,
        'ms',
        { value: troupe, baseline: lowerBound },
        '<= 1.15',
      ),
      row(
        'requests',
        `the same build vs the same graph on 2 bare ${kind === 'thread' ? 'worker_threads' : 'child processes'} that only spin (the floor here)`,
        'ms',
        { value: troupe, baseline: floor },
      ),
    );
  }
  return rows;
}
