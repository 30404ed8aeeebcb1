// The built-in scenarios: small worlds of the real runtime that `npm run check:model` explores,
// each with the broken variants it must catch, one file each. A variant hands one bug (./broken.ts)
// to the instances of its own world through core's internal seams (or, for `no-yield`, makes the
// scenario's own tasks wait the wrong way). Each scenario's `module` is its own file, where an
// ExplorerPool worker loads it by name.
import type { Scenario } from '../sim/scenario.js';
import { buildScenario } from './build.js';
import { cancelScenario } from './cancel.js';
import { dispatcherScenario } from './dispatcher.js';
import { fenceScenario } from './fence.js';
import { hangScenario } from './hang.js';
import { jobsScenario } from './jobs.js';
import { partitionScenario } from './partition.js';
import { pipelineScenario } from './pipeline.js';
import { restartScenario } from './restart.js';
import { retryScenario } from './retry.js';
import { reuseScenario } from './reuse.js';
import { shutdownScenario } from './shutdown.js';

export {
  buildScenario,
  cancelScenario,
  dispatcherScenario,
  fenceScenario,
  hangScenario,
  jobsScenario,
  partitionScenario,
  pipelineScenario,
  restartScenario,
  retryScenario,
  reuseScenario,
  shutdownScenario,
};

/** In the order check:model explores them. */
export const scenarios: readonly Scenario[] = [
  buildScenario,
  hangScenario,
  pipelineScenario,
  cancelScenario,
  dispatcherScenario,
  shutdownScenario,
  jobsScenario,
  fenceScenario,
  reuseScenario,
  restartScenario,
  retryScenario,
  partitionScenario,
];
