// The partition scenario: remote-like nodes with heartbeats, one cut off past its timeout and then
// healed, or crashed; its late answers must be fenced, its work run again, each request once.
import { isDeepStrictEqual } from 'node:util';
import { createRuntime, defineTask, type NodeContext } from '@troupe/core';
import { createIdSource, internalSeams, NodeEndpoint } from '@troupe/core/internal';
import { lostIncarnationsFenced } from '../sim/incarnations.js';
import {
  nothingAfterExitPacket,
  oneActiveRequestOnNode,
  oneActiveRequestPerNode,
  requestsEndOnce,
  resultsMatchReference,
} from '../sim/monitors.js';
import { addEndpointNode } from '../sim/nodes.js';
import type { Scenario } from '../sim/scenario.js';
import { StaticEndpointProvider } from '../sim/static-endpoints.js';
import { applyLostIncarnations } from './broken.js';
import { nodesFingerprint } from './build-world.js';
import { referenceValue, retryJoin, retryWaiter, world } from './tasks.js';

/**
 * Works `ms` ticks of 1 ms, logging each, and answers its id; safe to run twice. Behind a
 * partition its log lines queue up on the link ahead of its result, each a delivery of its own, as
 * a real node's output would: when the partition heals, the result comes late among them.
 */
export const chattyCompute = defineTask<{ id: string; ms: number }, string>({
  name: 'chattyCompute',
  retry: { attempts: 1, backoffMs: 20 },
  async run(input, ctx) {
    for (let tick = 1; tick <= input.ms; tick++) {
      await new Promise<void>((resolve) => world.clock!.setTimeout(resolve, 1));
      ctx.log(`${input.id}: ${tick} of ${input.ms} ms`);
    }
    return input.id;
  },
});

/** The reference value of the scenario's requests (`chattyCompute` answers its id). */
function reference(spec: { task: string; input: unknown }): unknown {
  return spec.task === chattyCompute.id ? (spec.input as { id: string }).id : referenceValue(spec);
}

const NAMES = ['node-1', 'node-2'] as const;

/**
 * Two nodes that run on their own (static endpoints, as a remote node started by systemd: the
 * host cannot kill them), with heartbeats both ways (every 5 ms, lost after 20 ms of silence), and
 * requests safe to run once more (`retry: { attempts: 1 }`). Faults: a node is cut off by a
 * partition while it holds work (its tasks run on, its answers wait), which heals once the host has
 * declared it lost; or a node crashes. The host reconnects to a node it lost as the same node id
 * on a new incarnation, so a late answer of the old one can arrive while the request it speaks
 * of runs again on the new one. Must hold: every request ends once, with the reference value; no
 * result, block or yield of a lost incarnation is applied; one active request per node; nothing
 * after the exit packet. The `apply-lost-incarnation` variant handles a lost incarnation's packets
 * as live.
 */
export const partitionScenario: Scenario = {
  name: 'partition',
  module: import.meta.url,
  faults: { max: 2, crash: true },
  variants: ['apply-lost-incarnation'],
  setup(sim, variant) {
    world.clock = sim.clock;
    const ids = createIdSource(sim.random);
    const endpoints = new Map<string, NodeEndpoint>();
    const started = Promise.all(
      NAMES.map(async (name, at) => {
        const clock = sim.clock.for(name);
        const endpoint = await NodeEndpoint.start({
          transport: sim.transport,
          // Started with `--reuse`: it serves one host at a time, and goes back to waiting.
          listen: { address: name, handshake: { nodeReuse: true }, clock },
          clock,
          identity: { pid: at + 1, threadId: 0 },
        });
        endpoint.on('log', (line) => sim.note(`  ${name}: ${line}`));
        endpoints.set(name, endpoint);
        addEndpointNode(sim, name, endpoint);
        return { name, address: endpoint.address };
      }),
    );
    const provider = new StaticEndpointProvider({
      transport: sim.transport,
      clock: sim.clock,
      ids,
      endpoints: NAMES.map((name) => ({ name, address: `memory://${name}` })),
      // Short, beside the heartbeat: a lost link's close (the window in which its late packets
      // still arrive) and a connect to a node still behind the partition end in a few ticks.
      link: { handshakeTimeoutMs: 100, closeTimeoutMs: 100 },
    });
    const runtime = createRuntime({
      nodes: { provider, max: 2, heartbeat: { intervalMs: 5, timeoutMs: 20 } },
      clock: sim.clock,
      random: sim.random,
      ...(variant === 'apply-lost-incarnation' && { [internalSeams]: applyLostIncarnations }),
    });
    sim.addMonitor(
      oneActiveRequestPerNode(),
      oneActiveRequestOnNode(),
      requestsEndOnce(sim, runtime),
      nothingAfterExitPacket(),
      resultsMatchReference(sim, runtime, reference),
      lostIncarnationsFenced(sim, runtime),
    );
    /** Nodes cut off so far: one partition per schedule, and it heals. */
    const cut: string[] = [];
    const latest = (name: string): NodeContext | undefined => provider.nodes.find((node) => node.id === name);
    for (const name of NAMES) {
      const address = `memory://${name}`;
      sim.addFault(
        `partition ${name} while it holds requests`,
        () => {
          cut.push(name);
          sim.partition(address);
        },
        () =>
          cut.length === 0 && endpoints.get(name)?.state !== 'exiting' && (latest(name)?.holding ?? 0) > 0,
      );
      // Past the timeout: once the host has declared the incarnation it held lost. Not a fault: a
      // partition that never healed would leave the host to wait out every connect's handshake.
      sim.addAction(
        `heal ${name}`,
        () => sim.heal(address),
        () => sim.isPartitioned(address) && latest(name)?.state !== 'active',
      );
    }
    return {
      async run() {
        await started;
        const specs = [
          { task: retryJoin, input: { id: 'app', deps: ['lib', 'util'], ms: 2 } },
          { task: retryWaiter, input: { id: 'fetch', ms: 3 } },
          { task: chattyCompute, input: { id: 'docs', ms: 6 } },
        ];
        const results = await Promise.allSettled(specs.map((spec) => runtime.build(spec)));
        await runtime.shutdown();
        const struck = cut.length + [...endpoints.values()].filter((endpoint) => endpoint.killed).length;
        for (const name of NAMES) sim.heal(`memory://${name}`);
        await Promise.all([...endpoints.values()].map((endpoint) => endpoint.exit()));
        for (const [at, result] of results.entries()) {
          const spec = specs[at]!;
          const expected = reference({ task: spec.task.id, input: spec.input });
          if (result.status === 'fulfilled' && !isDeepStrictEqual(result.value, expected))
            throw new Error(
              `a build returned ${JSON.stringify(result.value)}, the reference is ${JSON.stringify(expected)}`,
            );
          // A partition or a crash loses one run, and each request has one to spare: only a
          // request two faults struck may fail.
          if (result.status === 'rejected' && struck < 2)
            throw new Error(
              `a build failed with no crash, though every request had a run to spare: ${(result.reason as Error).message}`,
            );
        }
      },
      fingerprint: () => nodesFingerprint(runtime),
    };
  },
};
