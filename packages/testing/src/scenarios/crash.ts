// The yardstick of bounded exhaustive search: a world small enough to explore to its end.
import type { Scenario } from '../sim/scenario.js';
import { buildWorld, runtimeIn } from './build-world.js';
import { compute, join, waiter } from './tasks.js';

/**
 * 3 requests on 2 nodes (a join with one dependency, a request that waits on a timer, one that
 * computes), and up to one node crash. Under the build scenario's monitors and oracle. Not among
 * the scenarios `check:model` explores at random: it is what bounded exhaustive search verifies
 * to its end (every schedule with up to one crash), and what its reductions are checked on.
 */
export const crashScenario: Scenario = {
  name: 'crash',
  module: import.meta.url,
  faults: { max: 1, crash: true },
  setup(sim) {
    const { runtime } = runtimeIn(sim, 2);
    return buildWorld(sim, runtime, [
      { task: join, input: { id: 'app', deps: ['lib'] } },
      { task: waiter, input: { id: 'fetch', ms: 3 } },
      { task: compute, input: { id: 'lint', ms: 1 } },
    ]);
  },
};
