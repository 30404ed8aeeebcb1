// The shutdown scenario: a node shut down while its host still pings it.
import { internalSeams } from '@troupe/core/internal';
import { nothingAfterExitPacket } from '../sim/monitors.js';
import { SimulatedNodeProvider } from '../sim/nodes.js';
import type { Scenario } from '../sim/scenario.js';
import { sendAfterExitPacket } from './broken.js';
import { world } from './tasks.js';

/**
 * A host pings a node in a loop while an operator shuts the node down at a moment the explorer
 * picks. Must hold: nothing is written to the node after the exit packet.
 */
export const shutdownScenario: Scenario = {
  name: 'shutdown',
  module: import.meta.url,
  variants: ['send-after-exit'],
  setup(sim, variant) {
    world.clock = sim.clock;
    const provider = new SimulatedNodeProvider(
      sim,
      variant === 'send-after-exit' ? { [internalSeams]: sendAfterExitPacket } : {},
    );
    sim.addMonitor(nothingAfterExitPacket());
    let stopping: Promise<void> | undefined;
    return {
      async run() {
        const [node] = await provider.acquire(1);
        sim.addAction('operator shuts the node down', () => {
          stopping = provider.shutdown();
        });
        // Pings until the node is gone: a send refused after the exit packet ends the loop.
        for (let i = 0; i < 6; i++) {
          try {
            await node!.request('troupe:ping', null);
          } catch {
            break;
          }
        }
        await (stopping ?? provider.shutdown());
      },
    };
  },
};
