// Found by the mutation run (npm run check:mutants): a node context's 'state' events are news: each
// names a region's new state, never the one it already reported. A watcher that compared every
// snapshot with the first one (and so repeated itself) went unnoticed by every other test.
import { afterEach, describe, expect, it } from 'vitest';
import { type Cleanups, endpointWorld, until } from './support/endpoint.js';

const tasks = new URL('./fixtures/inproc-tasks.mjs', import.meta.url).href;
const cleanups: Cleanups = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
const { startEndpoint, host } = endpointWorld(cleanups);

describe('node context: state events', () => {
  it('report each region only when it moves, through a request and a close', async () => {
    const { endpoint, transport } = await startEndpoint();
    const node = host(transport, endpoint.address);
    const moves: Record<string, string[]> = { connection: [], exitPacket: [] };
    node.on('state', (region: string, state: string) => moves[region]!.push(state));
    await node.start(process.pid);
    const pending = node.request(`${tasks}#waitForCancel`, null);
    await until(() => endpoint.running === 1, 'the request to start');
    await node.close({ reuse: false });
    await pending.catch(() => undefined);
    for (const [region, states] of Object.entries(moves))
      for (let i = 1; i < states.length; i++)
        expect(states[i], `${region}: ${states.join(' → ')}`).not.toBe(states[i - 1]);
    expect(moves.connection!.at(-1)).toBe('closed');
    expect(moves.exitPacket!.length).toBeGreaterThan(0);
  });
});
