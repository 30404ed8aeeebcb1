// The scheduler's rule for a pool that cannot grow: the host gave up after its own retries, so
// asking again at once would loop. A pool with no node fails what waits for it; a pool with
// nodes carries on with them and asks no more until the run ends.
import { NodeLaunchError } from '@troupe/core';
import { Scheduler, type SchedulerHost } from '@troupe/core/internal';
import { describe, expect, it } from 'vitest';

function growingHost() {
  const log: string[] = [];
  const grown: Array<{ count: number; pool: string }> = [];
  const host: SchedulerHost = {
    start: (r, node) => log.push(`start ${r.spec.task} on ${node}`),
    unblock: (r, node) => log.push(`unblock ${r.spec.task} on ${node}`),
    grant: (r, node) => log.push(`grant ${r.spec.task} on ${node}`),
    cancel: (r, node) => log.push(`cancel ${r.spec.task} on ${node}`),
    grow: (count, pool) => grown.push({ count, pool }),
  };
  return { host, log, grown };
}

const launchError = (detail: string) =>
  new NodeLaunchError(`could not start a node after 3 attempts; the last one: ${detail}`, 3, undefined, '');

describe('scheduler: growth that fails', () => {
  it('a pool with no nodes fails every request waiting for it with the error, and asks no more', () => {
    const { host, grown } = growingHost();
    const scheduler = new Scheduler({ host, maxNodes: 2 });
    const requests = scheduler.submitAll(['a', 'b', 'c'].map((task) => ({ task, input: null })));
    expect(grown).toEqual([{ count: 2, pool: 'default' }]);
    const error = launchError('exited with code 3');
    expect(scheduler.growthFailed(2, 'default', error)).toBe(3);
    for (const request of requests) {
      expect(request.state).toBe('failed');
      expect(request.error).toBe(error);
    }
    expect(scheduler.unfinished).toBe(0);
    expect(grown).toHaveLength(1);
  });

  it('a request submitted after that asks again', () => {
    const { host, grown } = growingHost();
    const scheduler = new Scheduler({ host, maxNodes: 2 });
    scheduler.submit({ task: 'a', input: null });
    scheduler.growthFailed(1, 'default', launchError('first'));
    const later = scheduler.submit({ task: 'b', input: null });
    expect(grown).toEqual([
      { count: 1, pool: 'default' },
      { count: 1, pool: 'default' },
    ]);
    scheduler.addNode('n1');
    expect(later.state).toBe('executing');
  });

  it('the same request asked again after its pool could not grow is a new request, not the cached failure', () => {
    const { host, grown } = growingHost();
    const scheduler = new Scheduler({ host, maxNodes: 1 });
    const first = scheduler.submit({ task: 'a', input: null });
    scheduler.growthFailed(1, 'default', launchError('first'));
    expect(first.state).toBe('failed');
    const again = scheduler.submit({ task: 'a', input: null });
    expect(again).not.toBe(first);
    expect(grown).toHaveLength(2);
    scheduler.addNode('n1');
    expect(again.state).toBe('executing');
  });

  it('waits for growth still on the way before failing anything, and uses what it brings', () => {
    const { host, grown, log } = growingHost();
    const scheduler = new Scheduler({ host, maxNodes: 3 });
    const a = scheduler.submit({ task: 'a', input: null });
    const b = scheduler.submit({ task: 'b', input: null });
    expect(grown).toEqual([
      { count: 1, pool: 'default' },
      { count: 1, pool: 'default' },
    ]);
    expect(scheduler.growthFailed(1, 'default', launchError('one'))).toBe(0);
    expect([a.state, b.state]).toEqual(['waiting', 'waiting']);
    scheduler.addNode('n1');
    expect(log).toEqual(['start a on n1']);
    scheduler.complete(a.id, 1);
    expect(log.at(-1)).toBe('start b on n1');
    expect(grown).toHaveLength(2);
  });

  it('a pool with nodes carries on with them, asks no more in this run, and asks again in the next', () => {
    const { host, grown, log } = growingHost();
    const scheduler = new Scheduler({ host, maxNodes: 3 });
    scheduler.addNode('n1');
    const run = ['a', 'b', 'c'].map((task) => scheduler.submit({ task, input: null }));
    expect(grown).toEqual([
      { count: 1, pool: 'default' },
      { count: 1, pool: 'default' },
    ]);
    expect(scheduler.growthFailed(2, 'default', launchError('no'))).toBe(0);
    // More work in the same run: no new growth, no tight loop.
    run.push(scheduler.submit({ task: 'd', input: null }));
    expect(grown).toHaveLength(2);
    for (const request of run) {
      expect(request.state).toBe('executing');
      scheduler.complete(request.id, request.spec.task);
    }
    expect(log).toEqual(['start a on n1', 'start b on n1', 'start c on n1', 'start d on n1']);
    expect(run.map((r) => r.value)).toEqual(['a', 'b', 'c', 'd']);
    // The run is over: the next may try again.
    scheduler.submit({ task: 'e', input: null });
    scheduler.submit({ task: 'f', input: null });
    expect(grown).toEqual([
      { count: 1, pool: 'default' },
      { count: 1, pool: 'default' },
      { count: 1, pool: 'default' },
    ]);
  });

  it('a pool that loses its last node after its growth failed fails what waits, with that error', () => {
    const { host, grown } = growingHost();
    const scheduler = new Scheduler({ host, maxNodes: 2 });
    scheduler.addNode('n1');
    const a = scheduler.submit({ task: 'a', input: null });
    const b = scheduler.submit({ task: 'b', input: null });
    const error = launchError('no');
    scheduler.growthFailed(1, 'default', error);
    expect(b.state).toBe('waiting');
    const lost = new Error('node n1 was lost');
    scheduler.removeNode('n1', lost);
    expect(a.error).toBe(lost);
    expect(b.state).toBe('failed');
    expect(b.error).toBe(error);
    expect(grown).toHaveLength(1);
  });

  it('a request blocked on one that cannot get a node is told, and continues on its own node', () => {
    const { host, grown, log } = growingHost();
    const scheduler = new Scheduler({ host, maxNodes: { default: 1, 'task-host': 1 } });
    scheduler.addNode('n1');
    const parent = scheduler.submit({ task: 'parent', input: null });
    const [child] = scheduler.block(parent.id, [{ task: 'child', input: null, pool: 'task-host' }]);
    expect(grown).toEqual([{ count: 1, pool: 'task-host' }]);
    const error = launchError('spawn troupe ENOENT');
    expect(scheduler.growthFailed(1, 'task-host', error)).toBe(1);
    expect(child!.error).toBe(error);
    expect(parent.state).toBe('executing');
    expect(parent.awaited).toEqual([child]);
    expect(log).toEqual(['start parent on n1', 'unblock parent on n1']);
  });

  it('news of a failed growth after the run ended holds nothing back', () => {
    const { host, grown } = growingHost();
    const scheduler = new Scheduler({ host, maxNodes: 2 });
    scheduler.addNode('n1');
    const a = scheduler.submit({ task: 'a', input: null });
    const b = scheduler.submit({ task: 'b', input: null });
    scheduler.complete(a.id, 1);
    scheduler.complete(b.id, 2);
    expect(scheduler.growthFailed(1, 'default', launchError('late'))).toBe(0);
    scheduler.submit({ task: 'c', input: null });
    scheduler.submit({ task: 'd', input: null });
    expect(grown).toHaveLength(2);
  });
});
