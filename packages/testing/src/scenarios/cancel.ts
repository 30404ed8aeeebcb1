// The cancel scenario: a user aborts one of two builds that share a node.
import type { RuntimeSeams } from '@troupe/core/internal';
import type { Scenario } from '../sim/scenario.js';
import { applyLateNews, releaseNodeOnCancel } from './broken.js';
import { runtimeIn, userAborts, watchRequestsClosely } from './build-world.js';
import { compute, join, waiter } from './tasks.js';

/**
 * A user aborts a build at a moment the explorer picks: requests running, blocked, yielded,
 * staged or waiting are all cancelled, on their nodes too, while the nodes may still be sending
 * about them. Must hold: every request ends once, nothing is thrown with no one to catch it.
 * `release-node-on-cancel` frees a node while its cancelled task runs on; `apply-late-news`
 * handles what a node still sends about a cancelled request as the live request's.
 */
export const cancelScenario: Scenario = {
  name: 'cancel',
  module: import.meta.url,
  strictErrors: true,
  variants: ['release-node-on-cancel', 'apply-late-news'],
  setup(sim, variant) {
    const broken: Record<string, RuntimeSeams> = {
      'release-node-on-cancel': { scheduler: releaseNodeOnCancel },
      'apply-late-news': applyLateNews,
    };
    const { runtime } = runtimeIn(sim, 1, { prefetch: 1, runtime: broken[variant] });
    watchRequestsClosely(sim, runtime);
    const signal = userAborts(sim, runtime, 'user aborts the build');
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
            { signal },
          )
          .catch(() => {});
        await Promise.all([aborted, kept]);
        await runtime.shutdown();
      },
    };
  },
};
