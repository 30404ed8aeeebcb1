// The in-process and thread node providers, through the same checks: nodes they start answer,
// run module tasks, and leave nothing running once shut down.
import { InProcessNodeProvider, TaskFailedError, ThreadNodeProvider } from '@troupe/core';
import { afterEach, describe, expect, it } from 'vitest';

const tasks = new URL('./fixtures/inproc-tasks.mjs', import.meta.url).href;
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe.each([
  ['in-process', () => new InProcessNodeProvider()],
  ['thread', () => new ThreadNodeProvider()],
])('%s nodes', (_kind, create) => {
  it('acquire, ping each, shut down: nothing left running', async () => {
    const provider = create();
    cleanups.push(() => provider.shutdown());
    const nodes = await provider.acquire(3);
    const pings = (await Promise.all(nodes.map((node) => node.request('troupe:ping', null)))) as Array<{
      threadId: number;
    }>;
    expect(pings).toHaveLength(3);
    await provider.shutdown();
    for (const node of nodes) {
      expect(node.state).toBe('closed');
      expect(node.exitPacket).toBe('sent');
      expect(node.process?.isAlive() ?? false).toBe(false);
    }
    expect(provider.nodes).toHaveLength(0);
  });

  it('runs module tasks, and a task failure does not take the node down', async () => {
    const provider = create();
    cleanups.push(() => provider.shutdown());
    const [node] = await provider.acquire(1);
    await expect(node!.request(`${tasks}#fail`, 1)).rejects.toBeInstanceOf(TaskFailedError);
    expect(await node!.request(`${tasks}#echo`, 'still here')).toBe('still here');
  });
});
