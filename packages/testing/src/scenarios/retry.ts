// The retry scenario: requests safe to run twice, on nodes that crash or hang under them.
import type { Scenario } from '../sim/scenario.js';
import { backoffOutlivesRequest } from './broken.js';
import { FAULTS_UNTIL, nodesFingerprint, runtimeIn, watchRequestsClosely } from './build-world.js';
import { retryCompute, retryJoin, retryWaiter } from './tasks.js';

/**
 * Requests that may run once more if their node is lost (`retry: { attempts: 1 }`, a 20 ms
 * back-off), joins whose dependencies may too, and a request that yields its node, on 2 nodes
 * pinged every 5 ms. One fault: a node crashes, or hangs while it holds requests (then it is
 * declared lost and killed), taking running, blocked and yielded runs with it; the user may abort
 * one build. Must hold: every request ends once, one active request per node (as the host and as
 * the node see it), every result is the reference's, nothing after the exit packet, and every
 * build the user did not abort succeeds, fault or not: one lost node is one lost run, and each
 * request has a run to spare. The `backoff-outlives-request` variant leaves a cancelled request's
 * back-off timer armed.
 */
export const retryScenario: Scenario = {
  name: 'retry',
  module: import.meta.url,
  faults: { max: 1, crash: true, until: FAULTS_UNTIL },
  variants: ['backoff-outlives-request'],
  setup(sim, variant) {
    const { runtime } = runtimeIn(sim, 2, {
      ping: { pingIntervalMs: 5, pingTimeoutMs: 20 },
      runtime: variant === 'backoff-outlives-request' ? { scheduler: backoffOutlivesRequest } : undefined,
    });
    watchRequestsClosely(sim, runtime);
    for (const name of ['node-1', 'node-2']) {
      sim.addFault(
        `hang ${name} while it holds requests`,
        () => sim.hang(name),
        () => !sim.isHung(name) && (runtime.nodes.find((node) => node.id === name)?.holding ?? 0) > 0,
      );
    }
    // The user's stop button, pressed while a request waits out its back-off: the moment a
    // retry's timer and a cancel race (pressed earlier, it is the cancel scenario's business).
    const controller = new AbortController();
    const retrying = new Set<string>();
    runtime.scheduler.on('transition', (request, _from, to) => {
      if (to === 'retrying') retrying.add(request.id);
      else retrying.delete(request.id);
    });
    sim.addAction(
      'user aborts a build while a request waits to run again',
      () => controller.abort(new Error('aborted by the user')),
      () => retrying.size > 0,
    );
    const signal = controller.signal;
    return {
      async run() {
        const kept = [
          runtime.build({ task: retryJoin, input: { id: 'app', deps: ['lib', 'util'], ms: 2 } }),
          runtime.build({ task: retryWaiter, input: { id: 'fetch', ms: 3 } }),
          runtime.build({ task: retryCompute, input: { id: 'docs', ms: 4 } }),
        ];
        // The one build the user may abort: it may end either way, but must end.
        const aborted = runtime
          .build({ task: retryCompute, input: { id: 'lint', ms: 3 } }, { signal })
          .catch(() => {});
        const results = await Promise.allSettled(kept);
        await aborted;
        await runtime.shutdown();
        for (const result of results)
          if (result.status === 'rejected')
            throw new Error(
              `a build failed though every request had a run to spare: ${(result.reason as Error).message}`,
            );
      },
      fingerprint: () => nodesFingerprint(runtime),
    };
  },
};
