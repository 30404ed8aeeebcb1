// Losing a node loses no work that may run twice: real process nodes, one SIGKILLed under a
// request, and the request's next run on another node giving the build's value.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createRuntime,
  NodeAbandonedError,
  NodeConnectionFailedError,
  RequestTimeoutError,
  RestartBudgetError,
  type Runtime,
  TraceRecorder,
} from '@troupe/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { asks, crash, once, polite, retried, stubborn, where } from './fixtures/retry-tasks.mjs';
import {
  cleanupSandbox,
  createSandbox,
  isRunning,
  type Sandbox,
  waitUntilGone,
} from './support/processes.js';

let runtime: Runtime | undefined;
let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await createSandbox();
});
afterEach(async () => {
  await runtime?.shutdown();
  runtime = undefined;
  await cleanupSandbox(sandbox);
});

function start(
  nodes: { max?: number; cancelGraceMs?: number; prefetch?: number; restarts?: { max: number } } = {},
  trace?: TraceRecorder,
): Runtime {
  runtime = createRuntime({
    ...(trace && { trace }),
    nodes: {
      kind: 'process',
      max: nodes.max ?? 2,
      ...(nodes.restarts && { restarts: nodes.restarts }),
      ...(nodes.prefetch !== undefined && { prefetch: nodes.prefetch }),
      ...(nodes.cancelGraceMs !== undefined && { cancelGraceMs: nodes.cancelGraceMs }),
      process: { transport: sandbox.transport, launcher: sandbox.launcher },
    },
  });
  return runtime;
}

/** Every "<name> running on <pid>" log line, in order, as [name, pid]. */
function runs(runtime: Runtime): Array<[string, number]> {
  const seen: Array<[string, number]> = [];
  runtime.on('log', (entry) => {
    const match = /^(\S+) running on (\d+)$/.exec(entry.message);
    if (match) seen.push([match[1]!, Number(match[2])]);
  });
  return seen;
}

async function until<T>(find: () => T | undefined): Promise<T> {
  for (let i = 0; i < 2_000; i++) {
    const found = find();
    if (found !== undefined) return found;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error('timed out waiting');
}

describe('a lost node', () => {
  it('a request that may run again runs on another node after its node is killed, and the build gets that run’s value', async () => {
    const recorder = new TraceRecorder();
    const runtime = start({}, recorder);
    const seen = runs(runtime);
    const gate = join(sandbox.directory, 'gate-a');
    const retriedEvents: string[] = [];
    runtime.scheduler.on('retried', (request, from) => retriedEvents.push(`${request.retries} ${from}`));
    const build = runtime.build({ task: retried, input: { name: 'a', gate } });
    const [, victim] = await until(() => seen[0]);
    sandbox.pids.add(victim);
    process.kill(victim, 'SIGKILL');
    expect(await waitUntilGone(victim)).toBe(true);
    // Let go only once the first run is dead: the next run is the only one that can answer.
    await writeFile(gate, '');
    const value = await build;
    const [, second] = await until(() => seen[1]);
    expect(second).not.toBe(victim);
    expect(value).toBe(`a from ${second}`);
    expect(seen).toHaveLength(2);
    expect(retriedEvents).toHaveLength(1);
    expect(retriedEvents[0]).toMatch(/^1 /);
    expect(runtime.scheduler.retries).toBe(1);
    // On the timeline: the retry as an instant naming the node lost, then its back-off state.
    const events = recorder.toJSON().traceEvents;
    const retriedAt = events.filter((event) => event.name === 'retried');
    expect(retriedAt).toHaveLength(1);
    expect(retriedAt[0]!.args).toMatchObject({
      attempt: 1,
      error: expect.stringContaining('killed by SIGKILL'),
    });
    expect(events.some((event) => event.name === 'retrying' && event.ph === 'X')).toBe(true);
    // The runtime goes on with the node that is left and whatever replaced the lost one.
    await writeFile(join(sandbox.directory, 'gate-b'), '');
    expect(
      await runtime.build({ task: once, input: { name: 'b', gate: join(sandbox.directory, 'gate-b') } }),
    ).toMatch(/^b from \d+$/);
  });

  it('a request that may not run twice fails naming the node, its pid and the signal', async () => {
    // By id, a request carries only the retry it gives itself (a task's own is read from the task).
    const runtime = start();
    const seen = runs(runtime);
    const gate = join(sandbox.directory, 'gate');
    const build = runtime.build({ task: once.id, input: { name: 'c', gate } }).then(
      () => undefined,
      (error: unknown) => error,
    );
    const [, victim] = await until(() => seen[0]);
    sandbox.pids.add(victim);
    process.kill(victim, 'SIGKILL');
    const error = (await build) as NodeConnectionFailedError;
    expect(error).toBeInstanceOf(NodeConnectionFailedError);
    expect(error.pid).toBe(victim);
    expect(error.message).toContain(`pid ${victim}`);
    expect(error.message).toContain('killed by SIGKILL');
    expect(seen).toHaveLength(1);
    expect(isRunning(victim)).toBe(false);
  });

  it('a retry asked for by a task’s own ctx.build crosses the wire with the request', async () => {
    const runtime = start();
    const seen = runs(runtime);
    const gate = join(sandbox.directory, 'gate-d');
    const build = runtime.build({ task: asks, input: { name: 'd', gate } });
    const [, victim] = await until(() => seen.find(([name]) => name === 'd'));
    sandbox.pids.add(victim);
    process.kill(victim, 'SIGKILL');
    expect(await waitUntilGone(victim)).toBe(true);
    await writeFile(gate, '');
    const value = await build;
    const runsOfD = seen.filter(([name]) => name === 'd');
    expect(runsOfD).toHaveLength(2);
    expect(runsOfD[1]![1]).not.toBe(victim);
    expect(value).toBe(`asked: d from ${runsOfD[1]![1]}`);
  });
});

describe('a request past its timeout', () => {
  it('fails naming its task, node and time; a node that ends the run keeps serving', async () => {
    const runtime = start({ max: 1 });
    const seen = runs(runtime);
    const error = await runtime.build({ task: polite, input: { name: 'p' }, timeoutMs: 300 }).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(RequestTimeoutError);
    const timeout = error as RequestTimeoutError;
    const node = runtime.nodes[0]!;
    expect([timeout.task, timeout.nodeId, timeout.timeoutMs]).toEqual([polite.id, node.id, 300]);
    const [, pid] = seen[0]!;
    // The same node, the same process, builds the next request.
    expect(await runtime.build({ task: where, input: null })).toBe(pid);
    expect(runtime.nodes.map((n) => n.id)).toEqual([node.id]);
  });

  it('a node that does not end the run within the grace is killed and replaced; what it held runs again if it may', async () => {
    const runtime = start({ max: 1, cancelGraceMs: 300, prefetch: 1 });
    const seen = runs(runtime);
    const lost = new Promise<Error>((resolve) => runtime.on('node.lost', (_node, error) => resolve(error)));
    const gate = join(sandbox.directory, 'never');
    const stuck = runtime.build({ task: stubborn, input: { name: 's', gate }, timeoutMs: 300 }).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    const [, victim] = await until(() => seen[0]);
    sandbox.pids.add(victim);
    // Sent ahead to the same node, behind the stuck run: it never starts there.
    const retriedFrom: string[] = [];
    runtime.scheduler.on('retried', (request, _from, error) =>
      retriedFrom.push(`${request.state} ${error.name}`),
    );
    const staged = runtime.build({ task: where, input: null, retry: { attempts: 1 } });
    await until(() => (runtime.scheduler.waiting === 0 ? true : undefined));
    expect(await stuck).toBeInstanceOf(RequestTimeoutError);
    expect(await waitUntilGone(victim)).toBe(true);
    const abandoned = await lost;
    expect(abandoned).toBeInstanceOf(NodeAbandonedError);
    expect(abandoned.message).toContain(`pid ${victim}`);
    // Its replacement runs the staged request again, and serves the build.
    const replacement = await staged;
    expect(retriedFrom).toEqual(['retrying NodeAbandonedError']);
    expect(replacement).not.toBe(victim);
    expect(await runtime.build({ task: where, input: 'next' })).toBe(replacement);
    expect(isRunning(victim)).toBe(false);
  });
});

describe('the restart budget', () => {
  it('a pool that loses more nodes than its budget starts no more, and what waits fails saying why', async () => {
    const runtime = start({ max: 1, restarts: { max: 1 } });
    const outcome = (code: number) =>
      runtime.build({ task: crash, input: code }).then(
        () => undefined,
        (error: unknown) => error as Error,
      );
    const first = await outcome(3);
    expect(first).toBeInstanceOf(NodeConnectionFailedError);
    expect(first!.message).toContain('exited with code 3');
    expect(await outcome(4)).toBeInstanceOf(NodeConnectionFailedError);
    expect(sandbox.launched).toHaveLength(2);
    // Two lost within the period, one allowed: no third node.
    const third = await outcome(5);
    expect(third).toBeInstanceOf(RestartBudgetError);
    expect(third!.message).toContain('pool default lost 2 nodes within 60000 ms');
    expect(third!.message).toContain('exited with code 4');
    expect(sandbox.launched).toHaveLength(2);
  });
});
