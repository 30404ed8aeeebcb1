// The build scenario: dependent and yielding requests on 2 nodes, with a crash or a lost delivery.
import type { RuntimeSeams } from '@troupe/core/internal';
import type { Scenario } from '../sim/scenario.js';
import {
  grantReacquireWhileBusy,
  keepRequestsOfLostNodes,
  loseResultsOfFinishedRequests,
  loseWakeupOfIdleNode,
} from './broken.js';
import { buildWorld, FAULTS_UNTIL, runtimeIn } from './build-world.js';
import { compute, join, waiter } from './tasks.js';

/**
 * Dependent requests and yielding tasks on 2 nodes, with up to one fault (a crash or a lost
 * delivery). Must hold: one active request per node, every request ends exactly once, nothing
 * after the exit packet.
 */
export const buildScenario: Scenario = {
  name: 'build',
  module: import.meta.url,
  faults: { max: 1, crash: true, drop: true, until: FAULTS_UNTIL },
  variants: [
    'grant-reacquire-while-busy',
    'lose-requests-on-connection-failure',
    'lose-results-of-finished-requests',
    'lost-wakeup',
  ],
  setup(sim, variant) {
    const broken: Record<string, RuntimeSeams> = {
      'grant-reacquire-while-busy': { scheduler: grantReacquireWhileBusy },
      'lose-requests-on-connection-failure': { nodeLost: keepRequestsOfLostNodes },
      'lose-results-of-finished-requests': { scheduler: loseResultsOfFinishedRequests },
      'lost-wakeup': { scheduler: loseWakeupOfIdleNode },
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
