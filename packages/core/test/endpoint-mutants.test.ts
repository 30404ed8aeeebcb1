// Written for a survivor of the mutation run (npm run check:mutants): `release()` clearing the
// staged requests of a host that vanished. The mutant proved equivalent (the endpoint's `active`
// state resets the build state, staged requests too, in the same step), but what it guards had no
// test: the next host of a reused node must never see the last host's staged requests run.
import { PacketType } from '@troupe/core/internal';
import type { Link } from '@troupe/transport';
import { afterEach, describe, expect, it } from 'vitest';
import { type Cleanups, endpointWorld, until } from './support/endpoint.js';

const tasks = new URL('./fixtures/inproc-tasks.mjs', import.meta.url).href;
const cleanups: Cleanups = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
const { startEndpoint } = endpointWorld(cleanups);

/** What a host's link hears: log lines and results, in order. */
function listen(link: Link): string[] {
  const seen: string[] = [];
  link.on('packet', (type, body) => {
    const b = body as { id?: string; message?: string; value?: unknown; ok?: boolean };
    if (type === PacketType.Log) seen.push(b.message!);
    if (type === PacketType.BuildResult)
      seen.push(`result ${b.id} ${b.ok ? JSON.stringify(b.value) : 'failed'}`);
  });
  return seen;
}

describe('node endpoint: a host that vanishes with requests staged', () => {
  it('the next host never sees them run', async () => {
    const { endpoint, transport } = await startEndpoint();
    const first = await transport.connect(endpoint.address, {});
    first.send(PacketType.NodeConfiguration, {
      nodeId: 'first',
      hostPid: 1,
      nodeReuse: true,
      incarnation: 1,
    });
    first.send(PacketType.BuildRequest, { id: 'r1', task: `${tasks}#waitForCancel`, input: null });
    first.send(PacketType.BuildRequest, { id: 'r2', task: `${tasks}#echo`, input: 'stale' });
    await until(() => endpoint.running === 1, 'r1 to start');
    await first.destroy();
    await until(() => endpoint.state === 'idle', 'the node to go idle');

    const second = await transport.connect(endpoint.address, {});
    cleanups.push(() => second.close());
    const seen = listen(second);
    second.send(PacketType.NodeConfiguration, {
      nodeId: 'second',
      hostPid: 1,
      nodeReuse: true,
      incarnation: 1,
    });
    second.send(PacketType.BuildRequest, { id: 'r3', task: `${tasks}#echo`, input: 'fresh' });
    await until(() => seen.includes('result r3 "fresh"'), 'r3 to end');
    second.send(PacketType.BuildRequest, { id: 'r4', task: `${tasks}#echo`, input: 'next' });
    await until(() => seen.includes('result r4 "next"'), 'r4 to end');
    expect(seen).toEqual(['echo "fresh"', 'result r3 "fresh"', 'echo "next"', 'result r4 "next"']);
  });
});
