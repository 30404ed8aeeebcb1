import { availableParallelism } from 'node:os';
import { createRuntime, type RequestLike, type Runtime, type RuntimeOptions } from '@troupe/core';
import { analyse, generateGraph } from '@troupe/example-build-graph/graph';
import {
  createNamespace,
  type NetworkNamespace,
  netnsUnavailable,
  removeNamespaces,
} from '@troupe/testing/internal';
import { alternate, median, type Row, row, type SuiteOptions } from '../measure.js';

/**
 * Remote nodes (issue 14), each in a network namespace of its own reached over a veth link
 * (packages/testing/src/netns.ts), launched through `ip netns exec`: the same machine, so these
 * rows measure what the network path and the remote provider cost, not a faster or slower machine.
 */

const noop = `${new URL('../../workers/noop.mjs', import.meta.url).href}#noopTask`;
const tasks = new URL('../../workers/remote.mjs', import.meta.url).href;
const busy = `${tasks}#busy`;
const hold = `${tasks}#hold`;

const GOALS = { throughput: '>= 0.8', silence: '<= 1.5', makespan: '<= 1.15' } as const;

/** No-op tasks per second on `runtime`'s warm nodes. */
async function tasksPerSecond(runtime: Runtime, count: number, round: string): Promise<number> {
  const start = performance.now();
  await runtime.build(Array.from({ length: count }, (_, i) => ({ task: noop, input: `${round}-${i}` })));
  return count / ((performance.now() - start) / 1000);
}

/** Holds `nodes` nodes at once, so that every node of the pool is started before timing begins. */
async function warm(runtime: Runtime, nodes: number): Promise<void> {
  await runtime.build(
    Array.from({ length: nodes }, (_, i) => ({ task: hold, input: { ms: 200, value: i } })),
  );
}

async function throughput(ns: NetworkNamespace, count: number, rounds: number) {
  const local = createRuntime({ nodes: { kind: 'process', max: 2 } });
  const remote = createRuntime({ nodes: { kind: 'remote', launch: [{ prefix: [...ns.prefix], nodes: 2 }] } });
  try {
    await Promise.all([warm(local, 2), warm(remote, 2)]);
    let round = 0;
    return await alternate(
      rounds,
      () => tasksPerSecond(local, count, `l${round}`),
      () => tasksPerSecond(remote, count, `r${round++}`),
    );
  } finally {
    await Promise.all([local.shutdown(), remote.shutdown()]);
  }
}

/**
 * Milliseconds from the moment a node holding a retryable request goes silent (SIGSTOP) until the
 * request runs again on the other, idle node; against the heartbeat timeout it is bound by.
 */
async function silenceToRerun(a: NetworkNamespace, b: NetworkNamespace, timeoutMs: number): Promise<number> {
  const runtime = createRuntime({
    nodes: {
      kind: 'remote',
      launch: [{ prefix: [...a.prefix] }, { prefix: [...b.prefix] }],
      // Remote nodes are watched by heartbeats, both ways, whether or not they hold work.
      heartbeat: { intervalMs: timeoutMs / 10, timeoutMs },
    },
  });
  const locations = new Map<string, string>();
  runtime.on('node', (node) => locations.set(node.id, node.location));
  const stopped: number[] = [];
  try {
    await warm(runtime, 2);
    let silentAt = 0;
    let rerunAt = 0;
    let first: string | undefined;
    runtime.on('request', (request, _from, to) => {
      if (to !== 'executing' || request.spec.task !== hold) return;
      const location = locations.get(request.node ?? '')!;
      if (first === undefined) {
        first = location;
        const namespace = location === a.prefix.join(' ') ? a : b;
        void namespace.pids().then((pids) => {
          silentAt = performance.now();
          for (const pid of pids) process.kill(pid, 'SIGSTOP');
          stopped.push(...pids);
        });
      } else if (location !== first && rerunAt === 0) {
        rerunAt = performance.now();
        // Measured: the rerun need not hold its node for the rest of its time.
        done.abort();
      }
    });
    const done = new AbortController();
    await runtime
      .build(
        { task: hold, input: { ms: 20 * timeoutMs, value: 'held' }, retry: { attempts: 1, backoffMs: 0 } },
        { signal: done.signal },
      )
      .catch((error: unknown) => {
        if (!done.signal.aborted) throw error;
      });
    if (!(rerunAt > silentAt && silentAt > 0))
      throw new Error('the held request never ran again on the other node');
    return rerunAt - silentAt;
  } finally {
    for (const pid of stopped) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Killed already by the host that declared it lost.
      }
    }
    await runtime.shutdown();
  }
}

/** A generated build of `projects` projects of about `workMs` each, as declared requests. */
function buildGraph(projects: number, workMs: number) {
  const graph = generateGraph(projects, workMs, 3);
  const { criticalPath, totalWork } = analyse(graph);
  const requests = new Map<string, RequestLike & { deps: RequestLike[] }>();
  for (const p of graph)
    requests.set(p.id, { task: busy, input: { id: p.id, ms: p.cost }, cost: p.cost, deps: [] });
  for (const p of graph) requests.get(p.id)!.deps.push(...p.deps.map((dep) => requests.get(dep)!));
  // Four nodes busy-wait on however many cores this machine has.
  const lowerBound = Math.max(criticalPath, totalWork / Math.min(4, availableParallelism()));
  return { requests: [...requests.values()], lowerBound };
}

/** Milliseconds to build `requests` on a pool of 4 nodes, all started before the clock starts. */
async function makespan(
  nodes: NonNullable<RuntimeOptions['nodes']>,
  requests: RequestLike[],
): Promise<number> {
  const runtime = createRuntime({ nodes });
  try {
    await warm(runtime, 4);
    const start = performance.now();
    await runtime.build(requests);
    return performance.now() - start;
  } finally {
    await runtime.shutdown();
  }
}

export async function remoteSuite({ quick }: SuiteOptions): Promise<Row[]> {
  const names = {
    throughput: 'no-op tasks/s, 2 remote nodes across a namespace vs 2 local process nodes',
    silence: 'silence to rerun elsewhere vs the heartbeat timeout',
    makespan: `${quick ? 100 : 800} projects x 5 ms on 2 local + 2 remote nodes, makespan vs lower bound`,
    versusLocal: `${quick ? 100 : 800} projects x 5 ms, makespan on 2 local + 2 remote vs 4 local nodes`,
  };
  const reason = netnsUnavailable();
  if (reason) {
    const pending = (name: string, unit: string, goal: string): Row => ({
      suite: 'remote',
      name,
      unit,
      value: Number.NaN,
      baseline: Number.NaN,
      ratio: Number.NaN,
      goal,
      pending: reason,
    });
    return [
      pending(names.throughput, 'tasks/s', GOALS.throughput),
      pending(names.silence, 'ms', GOALS.silence),
      pending(names.makespan, 'ms', GOALS.makespan),
    ];
  }
  try {
    const [a, b] = [await createNamespace(), await createNamespace()];
    const rows = [
      row(
        'remote',
        names.throughput,
        'tasks/s',
        await throughput(a, quick ? 200 : 2000, quick ? 1 : 5),
        GOALS.throughput,
      ),
    ];
    const timeoutMs = 1_000;
    const silences: number[] = [];
    for (let i = 0; i < (quick ? 1 : 3); i++) silences.push(await silenceToRerun(a, b, timeoutMs));
    rows.push(
      row('remote', names.silence, 'ms', { value: median(silences), baseline: timeoutMs }, GOALS.silence),
    );
    const graph = buildGraph(quick ? 100 : 800, 5);
    const mixed = await makespan(
      { kind: 'remote', local: 2, launch: [{ prefix: [...a.prefix] }, { prefix: [...b.prefix] }] },
      graph.requests,
    );
    rows.push(
      row('remote', names.makespan, 'ms', { value: mixed, baseline: graph.lowerBound }, GOALS.makespan),
    );
    // What this machine allows: the same build on 4 local process nodes, in the same run.
    const local = await makespan({ kind: 'process', max: 4 }, graph.requests);
    rows.push(row('remote', names.versusLocal, 'ms', { value: mixed, baseline: local }));
    return rows;
  } finally {
    await removeNamespaces();
  }
}
