// The reuse scenario: two hosts claim one idle reusable node at once.
import { NodeContext } from '@troupe/core';
import { createIdSource, internalSeams, NodeEndpoint } from '@troupe/core/internal';
import { oneHostPerNode } from '../sim/monitors.js';
import type { Scenario } from '../sim/scenario.js';
import { acceptSecondHost } from './broken.js';

/**
 * A reusable node, released by one host, is claimed by two hosts at once. Must hold: the node
 * serves one host at a time (the other is refused as busy).
 */
export const reuseScenario: Scenario = {
  name: 'reuse',
  module: import.meta.url,
  variants: ['accept-second-host'],
  setup(sim, variant) {
    sim.addMonitor(oneHostPerNode());
    const handshake = { nodeReuse: true };
    // Request ids from the simulation's seeded randomness, so a replayed trace is the same trace.
    const ids = createIdSource(sim.random);
    const host = (name: string, address: string) =>
      new NodeContext({
        id: name,
        kind: 'inproc',
        nodeReuse: true,
        clock: sim.clock,
        ids,
        connect: (onLink) => sim.transport.connect(address, { handshake, onLink, clock: sim.clock }),
      });
    return {
      async run() {
        const endpoint = await NodeEndpoint.start({
          transport: sim.transport,
          listen: { address: 'node-1', handshake, clock: sim.clock.for('node-1') },
          clock: sim.clock.for('node-1'),
          ...(variant === 'accept-second-host' && { [internalSeams]: acceptSecondHost }),
        });
        const first = host('host-a', endpoint.address);
        await first.start(1);
        await first.request('troupe:ping', null);
        await first.close({ reuse: true });
        const second = host('host-b', endpoint.address);
        const third = host('host-c', endpoint.address);
        const claims = await Promise.allSettled([second.start(2), third.start(3)]);
        const won = claims.filter((claim) => claim.status === 'fulfilled').length;
        if (won === 0) throw new Error('neither host got the idle node');
        await Promise.all([second, third].map((ctx) => ctx.close({ reuse: false })));
        await endpoint.exit();
      },
    };
  },
};
