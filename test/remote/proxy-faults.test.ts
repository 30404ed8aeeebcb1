// Faults of the network between host and node, from a fault-injecting proxy in front of a static
// endpoint (a `--reuse` node started in another namespace, which the host dials and cannot
// kill): 200 ms of delay, a stall, a trickle of bandwidth, the connection cut in the middle of a
// frame, and the node itself stopped past the liveness timeout then resumed. Work completes
// exactly once with its value; a lost node's late answer is never applied.
import { createRuntime } from '@troupe/core';
import {
  createNamespace,
  FaultProxy,
  type NetworkNamespace,
  removeNamespaces,
} from '@troupe/testing/internal';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { slowDouble } from './fixtures/tasks.mjs';
import {
  checkOutcome,
  doubles,
  FAST_LIVENESS,
  liveness,
  payloads,
  signal,
  underFault,
} from './support/faults.js';
import { Cleanups, connectHost, noNetns, startNode, until } from './support/lab.js';

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

describe.skipIf(noNetns)(
  `faults between host and a static endpoint${noNetns ? ` (skipped: ${noNetns})` : ''}`,
  () => {
    let ns: NetworkNamespace;
    beforeAll(async () => {
      ns = await createNamespace();
    });
    afterAll(() => removeNamespaces());

    const secret = 'static endpoint secret';

    /** A `--reuse` node in the namespace (a static endpoint), a proxy in front, 1 local node beside. */
    async function behindProxy(bounds: ReturnType<typeof liveness>) {
      const node = await startNode(
        ns,
        ['--reuse', '--secret-env', 'NODE_SECRET', '--idle-timeout', '60000'],
        cleanups,
        {
          env: { NODE_SECRET: secret },
        },
      );
      // Checked after the test, once its runtime has shut down: the endpoint it started is all
      // that runs in the namespace (nothing a task or the host left behind).
      cleanups.add(async () => expect(await ns.pids()).toEqual([node.pid]));
      const proxy = await FaultProxy.start({ target: node.address });
      cleanups.add(() => proxy.close());
      const runtime = createRuntime({
        nodes: { kind: 'remote', local: 1, endpoints: [proxy.address], secret, ...bounds },
      });
      return { node, proxy, runtime, remote: () => proxy.address };
    }

    it('200 ms of delay each way: everything completes, with its value, no node lost', async () => {
      const { proxy, runtime, remote } = await behindProxy(FAST_LIVENESS);
      proxy.set({ kind: 'delay', ms: 200 });
      const jobs = [...doubles(6, 600, 50, false), ...payloads(2, 50_000, 50, false)];
      const outcome = await underFault(
        runtime,
        jobs,
        remote,
        () => true,
        async () => {},
      );
      expect(checkOutcome(jobs, outcome).failed).toBe(0);
      expect(outcome.run.lost).toEqual([]);
      expect(outcome.run.completedAt(remote())).toBeGreaterThan(0);
    });

    it('a stall shorter than the liveness timeout: held, then everything completes, no node lost', async () => {
      const { proxy, runtime, remote } = await behindProxy(liveness(200, 4_000));
      const jobs = doubles(8, 700, 100, false);
      const outcome = await underFault(
        runtime,
        jobs,
        remote,
        () => true,
        async () => {
          proxy.set({ kind: 'stall', ms: 1_500 });
        },
      );
      expect(checkOutcome(jobs, outcome).failed).toBe(0);
      expect(outcome.run.lost).toEqual([]);
      expect(outcome.run.completedAt(remote())).toBeGreaterThan(0);
    });

    it('a trickle of 64 KB/s: large results arrive whole', async () => {
      const { proxy, runtime, remote } = await behindProxy(FAST_LIVENESS);
      proxy.set({ kind: 'trickle', bytesPerSecond: 64_000 });
      const jobs = payloads(4, 40_000, 10, false);
      const outcome = await underFault(
        runtime,
        jobs,
        remote,
        () => true,
        async () => {},
      );
      expect(checkOutcome(jobs, outcome).failed).toBe(0);
      expect(outcome.run.lost).toEqual([]);
      expect(outcome.run.completedAt(remote())).toBeGreaterThan(0);
    });

    it('the connection cut in the middle of a result frame: the retryable request runs again, once', async () => {
      const { proxy, runtime, remote } = await behindProxy(FAST_LIVENESS);
      const jobs = payloads(4, 400_000, 300, true);
      const outcome = await underFault(
        runtime,
        jobs,
        remote,
        () => true,
        async () => {
          // Pings and their answers are a few dozen bytes: 2000 bytes on, the 400 kB result is under way.
          proxy.set({ kind: 'cut', afterBytes: 2_000 });
        },
      );
      checkOutcome(jobs, outcome);
      expect(proxy.stats.cuts).toBe(1);
      expect(outcome.run.lost[0]!.error.message).toMatch(
        /^connection to node \S+ \(pid \d+, on [^)]+\) failed: stream ended inside a frame: \d+ of 4000\d\d bytes received/,
      );
      expect(outcome.caught!.retries).toBeGreaterThanOrEqual(1);
      expect(outcome.run.lost.map(({ location }) => location)).toContain(remote());
    });

    it('the endpoint stopped past the liveness timeout, then resumed: its work runs again elsewhere, its late answer is not applied, and it serves the next host', async () => {
      const { node, runtime, remote } = await behindProxy(FAST_LIVENESS);
      // Two runs of a second: one on each node. The stopped one's run ends after SIGCONT, late.
      const jobs = doubles(2, 800, 1_000, true);
      const outcome = await underFault(
        runtime,
        jobs,
        remote,
        () => true,
        async (_caught, run) => {
          signal(node.pid, 'SIGSTOP');
          try {
            await until(() => run.lost.length > 0, 'the stopped endpoint to be declared lost');
          } finally {
            signal(node.pid, 'SIGCONT');
          }
        },
      );
      checkOutcome(jobs, outcome);
      expect(outcome.run.lost[0]!.error.message).toMatch(
        /^node \S+ \(pid \d+, on .+\) did not answer heartbeats for \d+ ms; it was declared lost/,
      );
      const caught = jobs.findIndex(
        (job) => JSON.stringify(job.request.input) === JSON.stringify(outcome.caught!.spec.input),
      );
      // The value applied is the rerun's, on the local node: the stopped node's answer carries its own pid.
      const applied = outcome.settled[caught] as PromiseFulfilledResult<{ value: number; pid: number }>;
      expect(applied.value.pid).not.toBe(node.pid);
      expect(outcome.caught!.retries).toBe(1);
      // The endpoint outlived it all, and serves the next host (dialled directly this time).
      const host = await connectHost(node.address, { handshake: { nodeReuse: true }, secret }, cleanups);
      expect(await host.request(slowDouble.id, { value: 4, ms: 1 })).toEqual({ value: 8, pid: node.pid });
      // Released as a static endpoint is: it goes back to waiting (the cleanup checks it is there).
      await host.close({ reuse: true });
    });
  },
);
