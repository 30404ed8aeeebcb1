// The built-in scenarios: small worlds of the real runtime that `npm run check:model` explores,
// each with the broken variants it must catch. A variant hands one bug (./broken.ts) to the
// instances of its own world through core's internal seams (or, for `no-yield`, makes the
// scenario's own tasks wait the wrong way).
import { isDeepStrictEqual } from 'node:util';
import {
  createRuntime,
  JobDispatcher,
  MemoryJobServer,
  NodeContext,
  type RequestLike,
  type Runtime,
} from '@troupe/core';
import {
  InProcessJobWorkers,
  internalSeams,
  type NodeContextSeams,
  NodeEndpoint,
  type RuntimeSeams,
} from '@troupe/core/internal';
import type { Scenario, World } from '../sim/scenario.js';
import {
  jobsEndOnce,
  nothingAfterExitPacket,
  oneActiveRequestOnNode,
  oneActiveRequestPerNode,
  oneHostPerNode,
  requestsEndOnce,
  resultsMatchReference,
} from '../sim/monitors.js';
import { SimulatedNodeProvider } from '../sim/nodes.js';
import type { Simulation } from '../sim/simulation.js';
import {
  acceptSecondHost,
  completeJobTwice,
  grantBeforeStaged,
  grantReacquireWhileBusy,
  keepRequestsOfLostNodes,
  loseResultsOfFinishedRequests,
  releaseNodeOnCancel,
  sendAfterExitPacket,
  trustSilentNodes,
} from './broken.js';
import {
  Board,
  compute,
  dispatcher,
  join,
  referenceValue,
  timedJob,
  waiter,
  worker,
  world,
} from './tasks.js';

/** Where an ExplorerPool worker finds these scenarios (by name). */
const SCENARIOS = import.meta.url;

interface WorldOptions {
  prefetch?: number;
  ping?: { pingIntervalMs?: number; pingTimeoutMs?: number };
  /** A variant's bug, in the runtime... */
  runtime?: RuntimeSeams | undefined;
  /** ...or in the host side of each node. */
  nodes?: NodeContextSeams | undefined;
}

function runtimeIn(sim: Simulation, nodes: number, options: WorldOptions = {}) {
  world.clock = sim.clock;
  const provider = new SimulatedNodeProvider(sim, options.nodes && { [internalSeams]: options.nodes });
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
function buildWorld(sim: Simulation, runtime: Runtime, requests: RequestLike[]): World {
  sim.addMonitor(
    oneActiveRequestPerNode(),
    requestsEndOnce(sim, runtime),
    nothingAfterExitPacket(),
    resultsMatchReference(sim, runtime, referenceValue),
  );
  return {
    async run() {
      const results = await Promise.allSettled(requests.map((request) => runtime.build(request)));
      await runtime.shutdown();
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed && sim.nodes.every((node) => node.alive))
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
    fingerprint: () =>
      runtime.nodes
        .map((node) => `${node.id}:${node.state}:${runtime.scheduler.activeOn(node.id)?.id ?? '-'}`)
        .join(','),
  };
}

/**
 * Dependent requests and yielding tasks on 2 nodes, with up to one fault (a crash or a lost
 * delivery). Must hold: one active request per node, every request ends exactly once, nothing
 * after the exit packet.
 */
export const buildScenario: Scenario = {
  name: 'build',
  module: SCENARIOS,
  faults: { max: 1, crash: true, drop: true },
  variants: [
    'grant-reacquire-while-busy',
    'lose-requests-on-connection-failure',
    'lose-results-of-finished-requests',
  ],
  setup(sim, variant) {
    const broken: Record<string, RuntimeSeams> = {
      'grant-reacquire-while-busy': { scheduler: grantReacquireWhileBusy },
      'lose-requests-on-connection-failure': { nodeLost: keepRequestsOfLostNodes },
      'lose-results-of-finished-requests': { scheduler: loseResultsOfFinishedRequests },
    };
    const { runtime } = runtimeIn(sim, 2, { runtime: broken[variant] });
    return buildWorld(sim, runtime, [
      { task: join, input: { id: 'app', deps: ['lib', 'util'] } },
      { task: waiter, input: { id: 'fetch', ms: 3 } },
      { task: join, input: { id: 'tests', deps: ['util'] } },
      { task: waiter, input: { id: 'upload', ms: 2 } },
      { task: compute, input: { id: 'docs', ms: 4 } },
      { task: compute, input: { id: 'lint', ms: 1 } },
    ]);
  },
};

/**
 * Dependent and yielding requests on 2 nodes, one of which may hang while it holds requests (it
 * takes no more steps, as a SIGSTOPped process). A node that holds requests is pinged (every 5 ms
 * here, lost after 20 ms of silence): a hung one must be declared lost and killed, so every
 * request ends, the hung node's with its error and the rest built. Must hold: every request ends
 * exactly once, one active request per node, nothing after the exit packet. The
 * `trust-silent-nodes` variant never declares a silent node lost: the build waits forever.
 *
 * The hang is this scenario's own fault, taken only while the node holds work: an idle node that
 * hangs is not pinged (nothing waits on it), and a simulated one then also stops its own orderly
 * exit, which a real provider ends with a kill after its exit timeout.
 */
export const hangScenario: Scenario = {
  name: 'hang',
  module: SCENARIOS,
  faults: { max: 1 },
  variants: ['trust-silent-nodes'],
  setup(sim, variant) {
    const { runtime } = runtimeIn(sim, 2, {
      ping: { pingIntervalMs: 5, pingTimeoutMs: 20 },
      nodes: variant === 'trust-silent-nodes' ? trustSilentNodes : undefined,
    });
    for (const name of ['node-1', 'node-2']) {
      sim.addFault(
        `hang ${name} while it holds requests`,
        () => sim.hang(name),
        () => !sim.isHung(name) && (runtime.nodes.find((node) => node.id === name)?.holding ?? 0) > 0,
      );
    }
    return buildWorld(sim, runtime, [
      { task: join, input: { id: 'app', deps: ['lib', 'util'] } },
      { task: waiter, input: { id: 'fetch', ms: 3 } },
      { task: compute, input: { id: 'docs', ms: 4 } },
      { task: compute, input: { id: 'lint', ms: 1 } },
    ]);
  },
};

/**
 * The same kind of work with requests sent ahead (prefetch 2): many small requests staged on busy
 * nodes, among continuations (blocked and yielded requests) that want their nodes back. Must hold:
 * one active request per node, and no continuation granted while a staged request is about to
 * start (MSBuild #13531); every request ends exactly once.
 */
export const pipelineScenario: Scenario = {
  name: 'pipeline',
  module: SCENARIOS,
  faults: { max: 1, crash: true, drop: true },
  variants: ['grant-before-staged'],
  setup(sim, variant) {
    const { runtime } = runtimeIn(sim, 2, {
      prefetch: 2,
      runtime: variant === 'grant-before-staged' ? { scheduler: grantBeforeStaged } : undefined,
    });
    return buildWorld(sim, runtime, [
      { task: waiter, input: { id: 'fetch', ms: 2 } },
      { task: join, input: { id: 'app', deps: ['a', 'b', 'c'] } },
      { task: compute, input: { id: 'lint', ms: 1 } },
      { task: waiter, input: { id: 'upload', ms: 1 } },
      ...['d', 'e', 'f', 'g'].map((id) => ({ task: compute, input: { id, ms: 1 } })),
    ]);
  },
};

/**
 * A user aborts a build at a moment the explorer picks: requests running, blocked, yielded,
 * staged or waiting are all cancelled, on their nodes too, while the nodes may still be sending
 * about them. Must hold: every request ends once, nothing is thrown with no one to catch it.
 */
export const cancelScenario: Scenario = {
  name: 'cancel',
  module: SCENARIOS,
  strictErrors: true,
  variants: ['release-node-on-cancel'],
  setup(sim, variant) {
    const { runtime } = runtimeIn(sim, 1, {
      prefetch: 1,
      runtime: variant === 'release-node-on-cancel' ? { scheduler: releaseNodeOnCancel } : undefined,
    });
    sim.addMonitor(
      oneActiveRequestPerNode(),
      oneActiveRequestOnNode(),
      requestsEndOnce(sim, runtime),
      nothingAfterExitPacket(),
      resultsMatchReference(sim, runtime, referenceValue),
    );
    const controller = new AbortController();
    // The user presses stop while work is running (an abort before anything runs is dull).
    sim.addAction(
      'user aborts the build',
      () => controller.abort(new Error('aborted by the user')),
      () => runtime.nodes.some((node) => runtime.scheduler.activeOn(node.id) !== undefined),
    );
    return {
      async run() {
        // One build the user aborts, one that carries on, sharing the nodes: work of the aborted
        // one may still be running on a node when the other's continuations want it back.
        const kept = runtime.build([
          { task: waiter, input: { id: 'fetch', ms: 2 } },
          { task: waiter, input: { id: 'upload', ms: 1 } },
          { task: compute, input: { id: 'test', ms: 1 } },
        ]);
        const aborted = runtime
          .build(
            [
              { task: compute, input: { id: 'lint', ms: 3 } },
              { task: join, input: { id: 'app', deps: ['a', 'b'] } },
              { task: compute, input: { id: 'docs', ms: 2 } },
            ],
            { signal: controller.signal },
          )
          .catch(() => {});
        await Promise.all([aborted, kept]);
        await runtime.shutdown();
      },
    };
  },
};

/**
 * The seed's deadlock, scaled down: a dispatcher hands 4 projects to 2 workers on 2 nodes; a
 * worker with nothing to do waits yielding its node. Must hold: every project is built.
 */
export const dispatcherScenario: Scenario = {
  name: 'dispatcher',
  module: SCENARIOS,
  variants: ['no-yield'],
  setup(sim, variant) {
    world.yielding = variant !== 'no-yield';
    world.board = new Board({ a: [], b: ['a'], c: ['a'], d: ['b', 'c'] });
    const { runtime } = runtimeIn(sim, 2);
    sim.addMonitor(
      oneActiveRequestPerNode(),
      requestsEndOnce(sim, runtime),
      resultsMatchReference(sim, runtime, referenceValue),
    );
    return {
      async run() {
        try {
          const [built] = await runtime.build<number>([
            { task: dispatcher, input: { id: 'dispatcher' } },
            { task: worker, input: { id: 'w1' } },
            { task: worker, input: { id: 'w2' } },
          ]);
          if (built !== 4) throw new Error(`the dispatcher built ${built} of 4 projects`);
        } finally {
          await runtime.shutdown();
        }
      },
    };
  },
};

/**
 * A host pings a node in a loop while an operator shuts the node down at a moment the explorer
 * picks. Must hold: nothing is written to the node after the exit packet.
 */
export const shutdownScenario: Scenario = {
  name: 'shutdown',
  module: SCENARIOS,
  variants: ['send-after-exit'],
  setup(sim, variant) {
    world.clock = sim.clock;
    const provider = new SimulatedNodeProvider(
      sim,
      variant === 'send-after-exit' ? { [internalSeams]: sendAfterExitPacket } : {},
    );
    sim.addMonitor(nothingAfterExitPacket());
    let stopping: Promise<void> | undefined;
    return {
      async run() {
        const [node] = await provider.acquire(1);
        sim.addAction('operator shuts the node down', () => {
          stopping = provider.shutdown();
        });
        // Pings until the node is gone: a send refused after the exit packet ends the loop.
        for (let i = 0; i < 6; i++) {
          try {
            await node!.request('troupe:ping', null);
          } catch {
            break;
          }
        }
        await (stopping ?? provider.shutdown());
      },
    };
  },
};

/**
 * One job in an in-process worker under a lease, cancelled by a user at a moment the explorer
 * picks, racing with its own end; the lease may be lost (a fault). Must hold: one result.
 */
export const jobsScenario: Scenario = {
  name: 'jobs',
  module: SCENARIOS,
  faults: { max: 1 },
  variants: ['complete-twice'],
  setup(sim, variant) {
    world.clock = sim.clock;
    const server = new MemoryJobServer({ clock: sim.clock, leaseMs: 20 });
    const dispatcherOfJobs = new JobDispatcher({
      source: server,
      workers: new InProcessJobWorkers({ transport: sim.transport, clock: sim.clock, random: sim.random }),
      clock: sim.clock,
      channelTimeoutMs: 50,
      cancelTimeoutMs: 30,
      killTimeoutMs: 10,
      lease: { renewIntervalMs: 5, retryStartMs: 2, retryMaxMs: 5 },
      ...(variant === 'complete-twice' && { [internalSeams]: completeJobTwice(server) }),
    });
    const ended = new Set<string>();
    dispatcherOfJobs.on('completed', (event) => ended.add(event.job.id));
    dispatcherOfJobs.on('state', (slot, state, job) =>
      sim.note(`  slot ${slot} ${job}: ${JSON.stringify(state)}`),
    );
    sim.addMonitor(jobsEndOnce(server, () => ended));
    server.add({ id: 'job-1', job: timedJob.id, message: { ms: 4 } });
    server.close();
    sim.addAction('user cancels job-1', () => dispatcherOfJobs.cancel('job-1'));
    sim.addFault('the job server refuses renewals of job-1', () => server.failRenewals('job-1'));
    return {
      async run() {
        await dispatcherOfJobs.run();
      },
      fingerprint: () => JSON.stringify(dispatcherOfJobs.states),
    };
  },
};

/**
 * A reusable node, released by one host, is claimed by two hosts at once. Must hold: the node
 * serves one host at a time (the other is refused as busy).
 */
export const reuseScenario: Scenario = {
  name: 'reuse',
  module: SCENARIOS,
  variants: ['accept-second-host'],
  setup(sim, variant) {
    sim.addMonitor(oneHostPerNode());
    const handshake = { nodeReuse: true };
    const host = (name: string, address: string) =>
      new NodeContext({
        id: name,
        kind: 'inproc',
        nodeReuse: true,
        clock: sim.clock,
        connect: (onLink) => sim.transport.connect(address, { handshake, onLink, clock: sim.clock }),
      });
    return {
      async run() {
        const endpoint = await NodeEndpoint.start({
          transport: sim.transport,
          listen: { address: 'node-1', handshake, clock: sim.clock.for('node-1') },
          clock: sim.clock.for('node-1'),
          ...(variant === 'accept-second-host' && { [internalSeams]: acceptSecondHost }),
        });
        const first = host('host-a', endpoint.address);
        await first.start(1);
        await first.request('troupe:ping', null);
        await first.close({ reuse: true });
        const second = host('host-b', endpoint.address);
        const third = host('host-c', endpoint.address);
        const claims = await Promise.allSettled([second.start(2), third.start(3)]);
        const won = claims.filter((claim) => claim.status === 'fulfilled').length;
        if (won === 0) throw new Error('neither host got the idle node');
        await Promise.all([second, third].map((ctx) => ctx.close({ reuse: false })));
        await endpoint.exit();
      },
    };
  },
};

export const scenarios: readonly Scenario[] = [
  buildScenario,
  hangScenario,
  pipelineScenario,
  cancelScenario,
  dispatcherScenario,
  shutdownScenario,
  jobsScenario,
  reuseScenario,
];
