// What the request scenarios share: a runtime on simulated nodes, and the world that builds a list
// of requests on it under the request monitors and the result oracle.
import { isDeepStrictEqual } from 'node:util';
import { createRuntime, type RequestLike, type Runtime } from '@troupe/core';
import {
  internalSeams,
  type NodeContextSeams,
  type NodeEndpointSeams,
  type RuntimeSeams,
} from '@troupe/core/internal';
import { describeWaits, hotStates } from '../sim/liveness.js';
import {
  nothingAfterExitPacket,
  oneActiveRequestOnNode,
  oneActiveRequestPerNode,
  requestsEndOnce,
  resultsMatchReference,
} from '../sim/monitors.js';
import { SimulatedNodeProvider } from '../sim/nodes.js';
import type { World } from '../sim/scenario.js';
import type { Simulation } from '../sim/simulation.js';
import { referenceValue, world } from './tasks.js';

/**
 * Steps a request, node or cancel may stay hot once faults stop (`hotStates`): five times the
 * longest measured in 3,000 random-walk and PCT schedules of each request scenario (40 steps, in
 * `pipeline`; docs/testing.md).
 */
export const HOT_BOUND = 200;

/**
 * Faults come only in a request scenario's first 1,000 steps (`FaultBudget.until`): then they
 * heal, and `hotStates` demands that the world converges, as TigerBeetle's VOPR does. A schedule
 * of these scenarios that finishes takes a few hundred steps at most.
 */
export const FAULTS_UNTIL = 1_000;

interface WorldOptions {
  prefetch?: number;
  ping?: { pingIntervalMs?: number; pingTimeoutMs?: number };
  /** A variant's bug, in the runtime... */
  runtime?: RuntimeSeams | undefined;
  /** ...or in the host side of each node... */
  nodes?: NodeContextSeams | undefined;
  /** ...or in each node itself. */
  endpoints?: NodeEndpointSeams | undefined;
}

/** A runtime on `nodes` simulated nodes of `sim`, with a variant's bug where it has one. */
export function runtimeIn(sim: Simulation, nodes: number, options: WorldOptions = {}) {
  world.clock = sim.clock;
  const provider = new SimulatedNodeProvider(sim, {
    ...(options.nodes && { [internalSeams]: options.nodes }),
    ...(options.endpoints && { endpoints: options.endpoints }),
  });
  const runtime = createRuntime({
    nodes: { provider, max: nodes, prefetch: options.prefetch ?? 0, ...options.ping },
    clock: sim.clock,
    random: sim.random,
    ...(options.runtime && { [internalSeams]: options.runtime }),
  });
  return { runtime, provider };
}

/**
 * A runtime building `requests` (each its own build), then shutting down, with the request
 * monitors and the result oracle on. Without a fault, every build must succeed; whatever a build
 * returns must be its reference value.
 */
export function buildWorld(sim: Simulation, runtime: Runtime, requests: RequestLike[]): World {
  sim.addMonitor(
    oneActiveRequestPerNode(),
    requestsEndOnce(sim, runtime),
    nothingAfterExitPacket(),
    resultsMatchReference(sim, runtime, referenceValue),
    hotStates(sim, runtime, { bound: HOT_BOUND }),
  );
  return {
    async run() {
      const results = await Promise.allSettled(requests.map((request) => runtime.build(request)));
      await runtime.shutdown();
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      // Counted, not read from the nodes: after the shutdown above no node is alive.
      if (failed && sim.faults === 0)
        throw new Error(`a build failed without any fault: ${(failed.reason as Error).message}`);
      for (const [index, result] of results.entries()) {
        const spec = requests[index]!;
        const expected = referenceValue({ task: (spec.task as { id: string }).id, input: spec.input });
        if (result.status === 'fulfilled' && !isDeepStrictEqual(result.value, expected))
          throw new Error(
            `a build returned ${JSON.stringify(result.value)}, the reference is ${JSON.stringify(expected)}`,
          );
      }
    },
    fingerprint: () => nodesFingerprint(runtime),
    waitFor: () => describeWaits(runtime),
  };
}

/**
 * Every request monitor, the node's own view of one active request included, and the result
 * oracle: for scenarios that cancel or restart work, where what the host and a node each believe
 * runs can differ.
 */
export function watchRequestsClosely(sim: Simulation, runtime: Runtime): void {
  sim.addMonitor(
    oneActiveRequestPerNode(),
    oneActiveRequestOnNode(),
    requestsEndOnce(sim, runtime),
    nothingAfterExitPacket(),
    resultsMatchReference(sim, runtime, referenceValue),
    hotStates(sim, runtime, { bound: HOT_BOUND }),
  );
}

/**
 * The user's stop button: an action the explorer may take once work is running (an abort before
 * anything runs is dull). Returns the signal it aborts.
 */
export function userAborts(sim: Simulation, runtime: Runtime, label: string): AbortSignal {
  const controller = new AbortController();
  sim.addAction(
    label,
    () => controller.abort(new Error('aborted by the user')),
    () => runtime.nodes.some((node) => runtime.scheduler.activeOn(node.id) !== undefined),
  );
  return controller.signal;
}

/** Each node's connection state and the request active there: a world's fingerprint. */
export function nodesFingerprint(runtime: Runtime): string {
  return runtime.nodes
    .map((node) => `${node.id}:${node.state}:${runtime.scheduler.activeOn(node.id)?.id ?? '-'}`)
    .join(',');
}
