// The hang scenario: a node stops answering while it holds requests; the pings must find it.
import type { Scenario } from '../sim/scenario.js';
import { trustSilentNodes } from './broken.js';
import { buildWorld, FAULTS_UNTIL, runtimeIn } from './build-world.js';
import { compute, join, waiter } from './tasks.js';

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
  module: import.meta.url,
  faults: { max: 1, until: FAULTS_UNTIL },
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
