// Faults while requests run on a node launched into another namespace (`ip netns exec`): the
// node SIGKILLed, stopped past the liveness timeout then resumed, its link cut and restored.
// Retryable work completes exactly once with the right values; work that may not run twice
// fails, saying which node was lost; nothing is left running in the namespace. The faults of
// the network itself (delay, stall, trickle, a cut mid-frame) are in proxy-faults.test.ts.
import { createRuntime, type Runtime, type RuntimeOptions } from '@troupe/core';
import { createNamespace, type NetworkNamespace, removeNamespaces } from '@troupe/testing/internal';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkOutcome, doubles, FAST_LIVENESS, signal, underFault } from './support/faults.js';
import { noNetns, until } from './support/lab.js';
import { record } from './support/runs.js';

describe.skipIf(noNetns)(`faults on a remote node${noNetns ? ` (skipped: ${noNetns})` : ''}`, () => {
  let ns: NetworkNamespace;
  beforeAll(async () => {
    ns = await createNamespace();
  });
  afterAll(() => removeNamespaces());

  /** 1 local process node and 1 node launched into the namespace through `ip netns exec`. */
  function launched(extra: NonNullable<RuntimeOptions['nodes']> = {}): Runtime {
    return createRuntime({
      nodes: { kind: 'remote', local: 1, launch: [{ prefix: [...ns.prefix] }], ...FAST_LIVENESS, ...extra },
    });
  }
  const remote = () => ns.prefix.join(' ');
  const nothingInside = () =>
    until(async () => (await ns.pids()).length === 0, 'no process left in the namespace');

  it('SIGKILL: the retryable request it ran completes elsewhere, once, with its value', async () => {
    const jobs = [...doubles(6, 0, 200, true), ...doubles(2, 100, 200, false)];
    const outcome = await underFault(
      launched(),
      jobs,
      remote,
      (job) => job.retryable,
      async () => {
        for (const pid of await ns.pids()) signal(pid, 'SIGKILL');
      },
    );
    checkOutcome(jobs, outcome);
    expect(outcome.caught!.retries).toBeGreaterThanOrEqual(1);
    expect(outcome.run.lost.map(({ location }) => location)).toContain(remote());
    expect(outcome.run.lost[0]!.error.message).toMatch(
      /^connection to node \S+ \(pid \d+, on [^)]+\) failed, killed by SIGKILL/,
    );
    await nothingInside();
  });

  it('SIGSTOP past the liveness timeout, then SIGCONT: declared lost, its work done once elsewhere, its late result not applied', async () => {
    const jobs = [...doubles(6, 200, 200, true), ...doubles(2, 300, 50, false)];
    const stopped: number[] = [];
    const outcome = await underFault(
      launched(),
      jobs,
      remote,
      (job) => job.retryable,
      async (_caught, run) => {
        stopped.push(...(await ns.pids()));
        for (const pid of stopped) signal(pid, 'SIGSTOP');
        await until(() => run.lost.length > 0, 'the stopped node to be declared lost');
        // The host may have killed it already (for a node launched by prefix, it can): then it
        // has nothing to resume, and nothing late to say.
        for (const pid of stopped) signal(pid, 'SIGCONT');
      },
    );
    checkOutcome(jobs, outcome);
    expect(outcome.caught!.retries).toBeGreaterThanOrEqual(1);
    expect(outcome.run.lost[0]!.location).toBe(remote());
    expect(outcome.run.lost[0]!.error.message).toMatch(
      /^node \S+ \(pid \d+, on .+\) did not answer heartbeats for \d+ ms; it was declared lost/,
    );
    await nothingInside();
  });

  it('link down past the liveness timeout, then up: the non-retryable request it held fails naming the node', async () => {
    const jobs = [...doubles(3, 400, 300, false), ...doubles(4, 500, 200, true)];
    const outcome = await underFault(
      launched(),
      jobs,
      remote,
      (job) => !job.retryable,
      async (_caught, run) => {
        await ns.linkDown();
        try {
          await until(() => run.lost.length > 0, 'the partitioned node to be declared lost');
        } finally {
          await ns.linkUp();
        }
      },
    );
    const { failed } = checkOutcome(jobs, outcome);
    expect(failed).toBeGreaterThanOrEqual(1);
    expect(outcome.caught!.state).toBe('failed');
    expect(outcome.caught!.error?.message).toMatch(
      /^node \S+ \(pid \d+, on .+\) did not answer heartbeats for \d+ ms; it was declared lost/,
    );
    await nothingInside();
  });

  // Only heartbeats find an idle node silent: pings alone go to a node that holds requests.
  it('an idle node that goes silent is declared lost by heartbeats; the next build runs on the others', async () => {
    const nodes = {
      kind: 'remote',
      local: 1,
      launch: [{ prefix: [...ns.prefix] }],
      heartbeat: { intervalMs: 200, timeoutMs: 1_000 },
    };
    const runtime = createRuntime({ nodes: nodes as RuntimeOptions['nodes'] });
    const run = record(runtime);
    const stopped: number[] = [];
    try {
      const first = doubles(4, 900, 200, false);
      expect(await runtime.build(first.map((job) => job.request))).toEqual(first.map((job) => job.expected));
      expect(run.completedAt(remote())).toBeGreaterThan(0);
      stopped.push(...(await ns.pids()));
      for (const pid of stopped) signal(pid, 'SIGSTOP');
      await until(() => run.lost.length > 0, 'the silent idle node to be declared lost');
      expect(run.lost[0]!.location).toBe(remote());
      for (const pid of stopped) signal(pid, 'SIGCONT');
      const second = doubles(4, 950, 50, false);
      expect(await runtime.build(second.map((job) => job.request))).toEqual(
        second.map((job) => job.expected),
      );
    } finally {
      for (const pid of stopped) signal(pid, 'SIGCONT');
      await runtime.shutdown();
    }
    await nothingInside();
  });
});
