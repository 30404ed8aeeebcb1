// The dispatcher scenario: workers that wait for work must yield their nodes, or the build deadlocks.

import { hotStates } from '../sim/liveness.js';
import { oneActiveRequestPerNode, requestsEndOnce, resultsMatchReference } from '../sim/monitors.js';
import type { Scenario } from '../sim/scenario.js';
import { HOT_BOUND, runtimeIn } from './build-world.js';
import { Board, dispatcher, referenceValue, worker, world } from './tasks.js';

/**
 * The seed's deadlock, scaled down: a dispatcher hands 4 projects to 2 workers on 2 nodes; a
 * worker with nothing to do waits yielding its node. Must hold: every project is built.
 */
export const dispatcherScenario: Scenario = {
  name: 'dispatcher',
  module: import.meta.url,
  variants: ['no-yield'],
  // The board is one object the tasks on both nodes read and write.
  sharedState: true,
  setup(sim, variant) {
    world.yielding = variant !== 'no-yield';
    world.board = new Board({ a: [], b: ['a'], c: ['a'], d: ['b', 'c'] });
    const { runtime } = runtimeIn(sim, 2);
    sim.addMonitor(
      oneActiveRequestPerNode(),
      requestsEndOnce(sim, runtime),
      resultsMatchReference(sim, runtime, referenceValue),
      hotStates(sim, runtime, { bound: HOT_BOUND }),
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
