// The lost scenario: a node crashes under its requests, and nothing else keeps the world busy.
import type { Scenario } from '../sim/scenario.js';
import { keepRequestsOfLostNodes } from './broken.js';
import { buildWorld, FAULTS_UNTIL, runtimeIn } from './build-world.js';
import { compute, join, waiter } from './tasks.js';

/**
 * 3 requests on 2 nodes (a join with one dependency, a request that waits on a timer, one that
 * computes) and up to one node crash: the crash scenario's world, sampled at random. Few enough
 * requests that once a node is gone, the other one soon holds none, is pinged no more, and the
 * world falls quiet. Must hold: the host fails (or runs again) what a lost node held, so every
 * build ends. The `lose-requests-on-connection-failure` variant never fails them: the builds
 * wait with no step left to take, a deadlock (in the build scenario, the same bug keeps a
 * waiting join's node pinged, and runs into the step bound instead).
 */
export const lostScenario: Scenario = {
  name: 'lost',
  module: import.meta.url,
  faults: { max: 1, crash: true, until: FAULTS_UNTIL },
  variants: ['lose-requests-on-connection-failure'],
  setup(sim, variant) {
    const { runtime } = runtimeIn(sim, 2, {
      runtime:
        variant === 'lose-requests-on-connection-failure' ? { nodeLost: keepRequestsOfLostNodes } : undefined,
    });
    return buildWorld(sim, runtime, [
      { task: join, input: { id: 'app', deps: ['lib'] } },
      { task: waiter, input: { id: 'fetch', ms: 3 } },
      { task: compute, input: { id: 'lint', ms: 1 } },
    ]);
  },
};
