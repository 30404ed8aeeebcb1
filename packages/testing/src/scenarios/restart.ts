// The restart scenario: restartable continuations restarted on free nodes, racing node loss and a cancel.
import type { Scenario } from '../sim/scenario.js';
import { answerCancelEarly, restartBesideFirstRun } from './broken.js';
import {
  FAULTS_UNTIL,
  nodesFingerprint,
  runtimeIn,
  userAborts,
  watchRequestsClosely,
} from './build-world.js';
import { compute, restartJoin, world } from './tasks.js';

/**
 * Restartable joins on 2 nodes with long work beside them, so a join is often ready while its own
 * node is busy and the other is free: the scheduler restarts it there. Up to one node may crash
 * (a restartable continuation on it runs again elsewhere), and the user may abort one build at
 * any moment. Must hold: every request ends once, one active request per node (as the host and
 * as the node see it), results match the reference, nothing after the exit packet, and no join
 * goes on past its ctx.build twice (a dropped run never resumes). The `restart-beside-first-run`
 * variant starts the new run but lets the first go on too; `answer-cancel-early` gives nodes that
 * answer a cancel (the user's abort) at once and move on, while the cancelled task runs on.
 */
export const restartScenario: Scenario = {
  name: 'restart',
  module: import.meta.url,
  faults: { max: 1, crash: true, until: FAULTS_UNTIL },
  variants: ['restart-beside-first-run', 'answer-cancel-early'],
  setup(sim, variant) {
    world.resumed = new Map();
    const { runtime } = runtimeIn(sim, 2, {
      runtime: variant === 'restart-beside-first-run' ? { scheduler: restartBesideFirstRun } : undefined,
      endpoints: variant === 'answer-cancel-early' ? answerCancelEarly : undefined,
    });
    watchRequestsClosely(sim, runtime);
    const signal = userAborts(sim, runtime, 'user aborts a build');
    return {
      async run() {
        // The long work arrives once a join has blocked: the join's node takes it (it comes first
        // by priority), so when the join's dependencies are done on the other node, its own node
        // is busy: it is restarted there.
        const blocked = new Promise<void>((resolve) =>
          runtime.scheduler.on('transition', (_request, _from, to) => {
            if (to === 'blocked') resolve();
          }),
        );
        const kept = runtime.build([
          { task: restartJoin, input: { id: 'app', deps: ['a', 'b'], ms: 1 }, cost: 2 },
          { task: compute, input: { id: 'x', ms: 1 }, cost: 1 },
        ]);
        const aborted = runtime.build(
          [
            { task: restartJoin, input: { id: 'lib', deps: ['c'], ms: 2 }, cost: 1 },
            { task: compute, input: { id: 'docs', ms: 2 }, cost: 2 },
          ],
          { signal },
        );
        // Both are settled below; until then an abort or a crash must not go unhandled.
        kept.catch(() => {});
        aborted.catch(() => {});
        await Promise.race([blocked, Promise.allSettled([kept])]);
        const long = runtime.build({ task: compute, input: { id: 'long', ms: 10 }, cost: 10 });
        const results = await Promise.allSettled([kept, aborted, long]);
        await runtime.shutdown();
        for (const [id, count] of world.resumed)
          if (count > 1)
            throw new Error(`${id} went on past its ctx.build ${count} times: a dropped run resumed`);
        for (const result of [results[0], results[2]])
          if (result.status === 'rejected' && sim.nodes.every((node) => node.alive))
            throw new Error(`a build failed without any fault: ${(result.reason as Error).message}`);
      },
      fingerprint: () => nodesFingerprint(runtime),
    };
  },
};
