import type { ScheduledRequest } from '@troupe/core';
import { Scheduler } from '@troupe/core/internal';
import { alternate, type Row, row, type SuiteOptions } from '../measure.js';

/** A random dependency graph: each request depends on up to 3 earlier ones. */
function graph(count: number, seed: number): number[][] {
  let state = seed;
  const random = () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state / 0x7fffffff;
  };
  return Array.from({ length: count }, (_, i) =>
    i === 0 ? [] : Array.from({ length: Math.min(i, 3) }, () => Math.floor(random() * i)),
  );
}

/**
 * Microseconds per request for the scheduler to run `count` zero-cost requests on 4 nodes: a
 * root asks for all of them, each asks for its dependencies (ctx.build), and a host that answers
 * at once stands in for the nodes.
 */
function schedulerRun(deps: number[][]): number {
  const queue: ScheduledRequest[] = [];
  let head = 0;
  let ids = 0;
  const host = {
    start: (r: ScheduledRequest) => queue.push(r),
    unblock: (r: ScheduledRequest) => queue.push(r),
    grant: (r: ScheduledRequest) => queue.push(r),
    cancel: () => {},
  };
  const scheduler = new Scheduler({ host, ids: { next: (kind) => `${kind}${++ids}` } });
  for (let i = 0; i < 4; i++) scheduler.addNode(`n${i}`);
  const asked = new Set<ScheduledRequest>();
  const start = performance.now();
  const root = scheduler.submit({ task: 'root', input: -1 });
  while (head < queue.length) {
    const request = queue[head++]!;
    if (!asked.has(request)) {
      asked.add(request);
      const index = request.spec.input as number;
      const wanted = index === -1 ? deps.map((_, i) => i) : deps[index]!;
      if (wanted.length > 0) {
        scheduler.block(
          request.id,
          wanted.map((j) => ({ task: 'project', input: j })),
        );
        continue;
      }
    }
    scheduler.complete(request.id, null);
  }
  const micros = ((performance.now() - start) * 1000) / deps.length;
  scheduler.stop();
  if (root.state !== 'completed') throw new Error(`root ended ${root.state}`);
  return micros;
}

/** The floor: the same graph run by a bare topological loop with dependency counters. */
function topologicalRun(deps: number[][]): number {
  const start = performance.now();
  const remaining = deps.map((d) => new Set(d).size);
  const dependents: number[][] = deps.map(() => []);
  deps.forEach((d, i) => {
    for (const j of new Set(d)) dependents[j]!.push(i);
  });
  const ready = remaining.flatMap((r, i) => (r === 0 ? [i] : []));
  let done = 0;
  while (ready.length > 0) {
    const i = ready.pop()!;
    done++;
    for (const k of dependents[i]!) if (--remaining[k]! === 0) ready.push(k);
  }
  if (done !== deps.length) throw new Error('graph has a cycle');
  return ((performance.now() - start) * 1000) / deps.length;
}

export async function schedulerSuite({ quick }: SuiteOptions): Promise<Row[]> {
  const deps = graph(quick ? 1_000 : 10_000, 42);
  // Warm up both paths (JIT) before measuring.
  schedulerRun(deps);
  topologicalRun(deps);
  const figures = await alternate(
    quick ? 1 : 7,
    async () => topologicalRun(deps),
    async () => schedulerRun(deps),
  );
  return [
    row(
      'scheduler',
      `overhead per request, ${deps.length} zero-cost requests`,
      'µs',
      figures,
      'troupe <= 20 µs',
    ),
  ];
}
