// The pipeline scenario: requests sent ahead to busy nodes (prefetch), among continuations.
import type { Scenario } from '../sim/scenario.js';
import { grantBeforeStaged } from './broken.js';
import { buildWorld, FAULTS_UNTIL, runtimeIn } from './build-world.js';
import { compute, join, waiter } from './tasks.js';

/**
 * The same kind of work with requests sent ahead (prefetch 2): many small requests staged on busy
 * nodes, among continuations (blocked and yielded requests) that want their nodes back. Must hold:
 * one active request per node, and no continuation granted while a staged request is about to
 * start (MSBuild #13531); every request ends exactly once.
 */
export const pipelineScenario: Scenario = {
  name: 'pipeline',
  module: import.meta.url,
  faults: { max: 1, crash: true, drop: true, until: FAULTS_UNTIL },
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
