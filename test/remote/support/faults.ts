// The fault tests' shared parts: the requests they run (each with the value it must end with,
// and whether it may run twice), a build with a fault injected once the remote node runs one of
// them, and the check every fault must pass: retryable work completes exactly once with its
// value; other work completes with its value or fails with the error of the node that was lost.
import type { Runtime, ScheduledRequest } from '@troupe/core';
import { expect } from 'vitest';
import { expectedPayload, payload, slowDouble } from '../fixtures/tasks.mjs';
import { until } from './lab.js';
import { type RunRecord, record } from './runs.js';

/** The runtime's liveness options for a bound: pings for local nodes, heartbeats for remote ones. */
export function liveness(intervalMs: number, timeoutMs: number) {
  return { pingIntervalMs: intervalMs, pingTimeoutMs: timeoutMs, heartbeat: { intervalMs, timeoutMs } };
}

/** Liveness bounds short enough for a test: a silent node is lost 1 s after its last answer. */
export const FAST_LIVENESS = liveness(200, 1_000);

export interface Job {
  request: { task: string; input: unknown; retry?: { attempts: number; backoffMs: number } };
  expected: unknown;
  retryable: boolean;
}

/** `count` slowDouble requests of `ms` each, values from `from`: retryable ones may run twice. */
export function doubles(count: number, from: number, ms: number, retryable: boolean): Job[] {
  return Array.from({ length: count }, (_, i) => ({
    request: {
      task: slowDouble.id,
      input: { value: from + i, ms },
      ...(retryable && { retry: { attempts: 3, backoffMs: 0 } }),
    },
    expected: expect.objectContaining({ value: (from + i) * 2 }),
    retryable,
  }));
}

/** `count` payload requests of `bytes` each, answered after `ms`. */
export function payloads(count: number, bytes: number, ms: number, retryable: boolean): Job[] {
  return Array.from({ length: count }, (_, i) => ({
    request: {
      task: payload.id,
      input: { seed: i, bytes, ms },
      ...(retryable && { retry: { attempts: 3, backoffMs: 0 } }),
    },
    expected: expectedPayload(i, bytes),
    retryable,
  }));
}

export interface Outcome {
  run: RunRecord;
  /** The request the fault caught on the remote node. */
  caught: ScheduledRequest | undefined;
  settled: PromiseSettledResult<unknown>[];
}

/**
 * Builds `jobs` (each a build of its own, so one failure ends no other) on `runtime`; once the
 * node at `remote` executes a request that `catches`, runs `fault`. Resolves when all settled and
 * the runtime is shut down.
 */
export async function underFault(
  runtime: Runtime,
  jobs: Job[],
  remote: () => string,
  catches: (job: Job) => boolean,
  fault: (caught: ScheduledRequest, run: RunRecord) => Promise<void>,
): Promise<Outcome> {
  const run = record(runtime);
  let caught: ScheduledRequest | undefined;
  const byInput = new Map(jobs.map((job) => [JSON.stringify(job.request.input), job]));
  try {
    await warm(runtime, run, [remote()]);
    const builds = jobs.map((job) => runtime.build(job.request));
    const faulted = (async () => {
      await until(() => {
        caught = run
          .executingAt(remote())
          .find((request) => catches(byInput.get(JSON.stringify(request.spec.input))!));
        return caught !== undefined;
      }, 'a request to run on the remote node');
      await fault(caught!, run);
    })();
    const settled = await Promise.allSettled(builds);
    await faulted;
    return { run, caught, settled };
  } finally {
    await runtime.shutdown();
  }
}

let warmups = 0;

/**
 * Builds `width` short requests at a time (as many as the pool has nodes) until a node at each of
 * `locations` has joined the pool, so that the work starts with every node up: a remote node
 * slower to start than the local ones (on a loaded machine) would otherwise find it done before
 * it could be given any.
 */
export async function warm(
  runtime: Runtime,
  run: RunRecord,
  locations: readonly string[],
  width = 2,
): Promise<void> {
  const deadline = Date.now() + 20_000;
  const joined = () => new Set(run.locations.values());
  while (!locations.every((location) => joined().has(location))) {
    if (Date.now() > deadline)
      throw new Error(`not every one of ${locations.join(', ')} joined the pool within 20 s`);
    const values = Array.from({ length: width }, () => -++warmups);
    await runtime.build(values.map((value) => ({ task: slowDouble, input: { value, ms: 100 } })));
  }
}

/** Every retryable job completed once with its value; the others did, or failed naming the lost node. */
export function checkOutcome(jobs: Job[], { run, settled }: Outcome): { failed: number } {
  let failed = 0;
  for (const [i, job] of jobs.entries()) {
    const result = settled[i]!;
    if (result.status === 'fulfilled') {
      expect(result.value, JSON.stringify(job.request.input)).toEqual(job.expected);
      continue;
    }
    expect(job.retryable, `a retryable request failed: ${(result.reason as Error).message}`).toBe(false);
    failed++;
    const lost = run.lost.map(({ error }) => error.message);
    expect(lost.length).toBeGreaterThan(0);
    expect((result.reason as Error).message).toMatch(/node \S+/);
    expect(lost).toContain((result.reason as Error).message);
  }
  for (const [id, count] of run.completions) expect(count, `request ${id} completions`).toBe(1);
  return { failed };
}

/** Sends `name` to `pid` if it is still there. */
export function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}
