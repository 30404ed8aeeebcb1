// Requests that run again when their node is lost (`retry`), decided by the scheduler alone: a
// host that records what it was told, and a virtual clock for the back-offs.
import { defineTask, NodeClosedError, type RequestSpec, RequestTimeoutError } from '@troupe/core';
import { Scheduler, type SchedulerHost, toSpec } from '@troupe/core/internal';
import { VirtualClock } from '@troupe/testing';
import { describe, expect, it } from 'vitest';

function setup(nodes: number) {
  const log: string[] = [];
  const host: SchedulerHost = {
    start: (r, node) => log.push(`start ${r.spec.task} on ${node}`),
    unblock: (r, node) => log.push(`unblock ${r.spec.task} on ${node}`),
    grant: (r, node) => log.push(`grant ${r.spec.task} on ${node}`),
    cancel: (r, node) => log.push(`cancel ${r.spec.task} on ${node}`),
  };
  const clock = new VirtualClock();
  let n = 0;
  const scheduler = new Scheduler({ host, clock, ids: { next: (kind) => `${kind}${++n}` }, maxNodes: 4 });
  for (let i = 1; i <= nodes; i++) scheduler.addNode(`n${i}`);
  const retried: string[] = [];
  scheduler.on('retried', (request, from, error) =>
    retried.push(`${request.spec.task} from ${from} (${request.retries}): ${error.message}`),
  );
  const states = new Map<string, string[]>();
  scheduler.on('transition', (request, _from, to) => {
    const list = states.get(request.spec.task) ?? [];
    list.push(to);
    states.set(request.spec.task, list);
  });
  const submit = (task: string, retry?: RequestSpec['retry']) =>
    scheduler.submit({ task, input: task, ...(retry && { retry }) });
  const died = (node: string) => new NodeClosedError(node, 'killed by SIGKILL');
  return { scheduler, log, clock, retried, states, submit, died };
}

describe('retries of requests whose node was lost', () => {
  it('a running request with an attempt left runs again from the start on another node, and its answer is the new run’s', async () => {
    const { scheduler, log, retried, states, submit, died } = setup(2);
    const a = submit('a', { attempts: 1 });
    const b = submit('b');
    expect(log).toEqual(['start a on n1', 'start b on n2']);
    scheduler.removeNode('n1', died('n1'));
    expect(retried).toEqual(['a from n1 (1): node n1 is closed: killed by SIGKILL']);
    expect(a.state).toBe('waiting');
    scheduler.complete(b.id, 'B');
    expect(log.at(-1)).toBe('start a on n2');
    expect(a.node).toBe('n2');
    scheduler.complete(a.id, 'A from n2');
    await scheduler.whenSettled(a);
    expect(a.value).toBe('A from n2');
    expect(states.get('a')).toEqual([
      'waiting',
      'executing',
      'retrying',
      'waiting',
      'executing',
      'completed',
    ]);
    expect(scheduler.retries).toBe(1);
  });

  it('fails with the node’s error once its attempts are used up', async () => {
    const { scheduler, submit, died, retried } = setup(1);
    const a = submit('a', { attempts: 1 });
    scheduler.removeNode('n1', died('n1'));
    scheduler.addNode('n2');
    expect(a.node).toBe('n2');
    const second = died('n2');
    scheduler.removeNode('n2', second);
    expect(a.state).toBe('failed');
    expect(a.error).toBe(second);
    expect(retried).toHaveLength(1);
  });

  it('without a retry policy a lost run fails at once, as before', () => {
    const { scheduler, submit, died } = setup(2);
    const a = submit('a');
    scheduler.removeNode('n1', died('n1'));
    expect(a.state).toBe('failed');
  });

  it('waits out its back-off on the clock, holding no node, then runs again', () => {
    const { scheduler, log, clock, submit, died } = setup(2);
    const a = submit('a', { attempts: 2, backoffMs: 500 });
    scheduler.removeNode('n1', died('n1'));
    expect(a.state).toBe('retrying');
    const c = submit('c');
    // The free node is not kept for it: work that can run now runs.
    expect(log.at(-1)).toBe('start c on n2');
    clock.advance(499);
    expect(a.state).toBe('retrying');
    clock.advance(1);
    expect(a.state).toBe('waiting');
    scheduler.complete(c.id, 'C');
    expect(log.at(-1)).toBe('start a on n2');
  });

  it('a request cancelled during its back-off ends, and its timer with it', async () => {
    const { scheduler, clock, submit, died } = setup(1);
    const a = submit('a', { attempts: 1, backoffMs: 1_000 });
    scheduler.removeNode('n1', died('n1'));
    expect(clock.pending).toBeGreaterThan(0);
    const before = clock.pending;
    scheduler.cancel(a.id);
    expect(a.state).toBe('cancelled');
    expect(clock.pending).toBe(before - 1);
    clock.advance(2_000);
    expect(a.state).toBe('cancelled');
  });

  it('a staged request and a yielded one on the lost node are retried; the waiting one is untouched', () => {
    const log: string[] = [];
    const host: SchedulerHost = {
      start: (r, node) => log.push(`start ${r.spec.task} on ${node}`),
      unblock: () => {},
      grant: (r, node) => log.push(`grant ${r.spec.task} on ${node}`),
      cancel: () => {},
    };
    const scheduler = new Scheduler({ host, prefetch: 1, clock: new VirtualClock() });
    scheduler.addNode('n1');
    const retry = { attempts: 1 };
    const y = scheduler.submit({ task: 'y', input: 1, retry });
    scheduler.yield(y.id);
    const a = scheduler.submit({ task: 'a', input: 1, retry });
    const s = scheduler.submit({ task: 's', input: 1, retry });
    const w = scheduler.submit({ task: 'w', input: 1 });
    expect([y.state, a.state, s.state, w.state]).toEqual(['yielded', 'executing', 'staged', 'waiting']);
    scheduler.removeNode('n1', new NodeClosedError('n1', 'connection failed'));
    expect([y.state, a.state, s.state, w.state]).toEqual(['waiting', 'waiting', 'waiting', 'waiting']);
    expect([y.retries, a.retries, s.retries, w.retries]).toEqual([1, 1, 1, 0]);
    scheduler.addNode('n2');
    expect(log.at(-1)).toMatch(/^start [yas] on n2$/);
  });

  it('a blocked request on the lost node waits for what it asked for, then starts again, not continues', () => {
    const { scheduler, log, states, died } = setup(1);
    const parent = scheduler.submit({ task: 'parent', input: 1, retry: { attempts: 1 } });
    const [child] = scheduler.block(parent.id, [{ task: 'child', input: 1 }]);
    expect(child!.node).toBe('n1');
    scheduler.removeNode('n1', died('n1'));
    // The child ran on n1 too, with no attempts: it fails, and the parent's next run will see that.
    expect(child!.state).toBe('failed');
    expect(parent.state).toBe('waiting');
    scheduler.addNode('n2');
    expect(log.at(-1)).toBe('start parent on n2');
    expect(states.get('parent')).toEqual(['waiting', 'executing', 'blocked', 'waiting', 'executing']);
    // Its next run asks again and gets the same answer: one request, one answer.
    const [again] = scheduler.block(parent.id, [{ task: 'child', input: 1 }]);
    expect(again).toBe(child);
    expect(log.at(-1)).toBe('unblock parent on n2');
  });

  it('a blocked request whose dependency runs on another node waits for it, then runs again from the start', () => {
    const { scheduler, log, died } = setup(2);
    const parent = scheduler.submit({ task: 'parent', input: 1, retry: { attempts: 1 } });
    const [child] = scheduler.block(parent.id, [{ task: 'child', input: 1 }]);
    // The child goes to the other, idle node (the case under test: a dependency that lives on).
    const parentNode = parent.node!;
    expect(child!.node).not.toBe(parentNode);
    scheduler.removeNode(parentNode, died(parentNode));
    expect(parent.state).toBe('blocked');
    expect(parent.node).toBeUndefined();
    scheduler.complete(child!.id, 'C');
    // Started again (start, not unblock) on the node that is left, where its ctx.build will find C.
    expect(log.at(-1)).toBe(`start parent on ${child!.node}`);
    expect(parent.state).toBe('executing');
    const [again] = scheduler.block(parent.id, [{ task: 'child', input: 1 }]);
    expect(again).toBe(child);
    expect(log.at(-1)).toBe(`unblock parent on ${child!.node}`);
    scheduler.complete(parent.id, 'P(C)');
    expect(parent.value).toBe('P(C)');
  });
});

describe('retry policies', () => {
  const run = (input: number) => input;

  it('a task’s policy goes with every request made with the task; a request’s own replaces it', () => {
    const task = defineTask({
      name: 'policy',
      module: 'file:///tasks.mjs',
      retry: { attempts: 2, backoffMs: 100 },
      run,
    });
    expect(task.retry).toEqual({ attempts: 2, backoffMs: 100 });
    expect(Object.isFrozen(task.retry)).toBe(true);
    expect(toSpec({ task, input: 1 }).retry).toEqual({ attempts: 2, backoffMs: 100 });
    expect(toSpec({ task, input: 1, retry: { attempts: 1 } }).retry).toEqual({ attempts: 1 });
    // Zero attempts is no retry, and says nothing on the wire.
    expect(toSpec({ task, input: 1, retry: { attempts: 0 } })).not.toHaveProperty('retry');
    // By id, only the request's own.
    expect(toSpec({ task: task.id, input: 1 })).not.toHaveProperty('retry');
  });

  it('a bad policy is refused where it is written, saying what is wrong', () => {
    const bad: Array<[unknown, string]> = [
      [{ attempts: -1 }, 'attempts must be an integer from 0 to 100'],
      [{ attempts: 2.5 }, 'attempts must be an integer from 0 to 100'],
      [{ attempts: 1, backoffMs: -1 }, 'backoffMs must be a number of milliseconds'],
      [3, 'it must be an object'],
    ];
    for (const [retry, says] of bad) {
      expect(() =>
        defineTask({ name: 'bad', module: 'file:///tasks.mjs', retry: retry as { attempts: number }, run }),
      ).toThrow(`invalid retry for task bad: ${says}`);
      expect(() =>
        toSpec({ task: 'file:///tasks.mjs#bad', input: 1, retry: retry as { attempts: number } }),
      ).toThrow(`invalid retry for a request for file:///tasks.mjs#bad: ${says}`);
    }
  });
});

describe('request timeouts', () => {
  it('a task’s timeoutMs goes with its requests, a request’s own replaces it, and a bad one is refused where it is written', () => {
    const task = defineTask({
      name: 'timed',
      module: 'file:///tasks.mjs',
      timeoutMs: 2_000,
      run: (n: number) => n,
    });
    expect(task.timeoutMs).toBe(2_000);
    expect(toSpec({ task, input: 1 }).timeoutMs).toBe(2_000);
    expect(toSpec({ task, input: 1, timeoutMs: 50 }).timeoutMs).toBe(50);
    expect(toSpec({ task: task.id, input: 1 })).not.toHaveProperty('timeoutMs');
    for (const bad of [0, -5, Number.NaN, 2 ** 31])
      expect(() =>
        defineTask({ name: 'late', module: 'file:///tasks.mjs', timeoutMs: bad, run: () => 0 }),
      ).toThrow(
        'invalid timeoutMs for task late: it must be a number of milliseconds above 0, at most 2147483647',
      );
  });

  it('a run that holds its node past its timeoutMs fails, is cancelled there, and holds the node until the node answers', () => {
    const { scheduler, log, clock } = setup(1);
    const timedOut: string[] = [];
    scheduler.on('timedOut', (request, node) => timedOut.push(`${request.spec.task} on ${node}`));
    const slow = scheduler.submit({ task: 'slow', input: 1, timeoutMs: 1_000 });
    const next = scheduler.submit({ task: 'next', input: 1 });
    clock.advance(999);
    expect(slow.state).toBe('executing');
    clock.advance(1);
    expect(slow.state).toBe('failed');
    expect(slow.error).toBeInstanceOf(RequestTimeoutError);
    expect(slow.error!.message).toBe(
      `request ${slow.id} (slow) ran for 1000 ms on node n1, its timeoutMs; it was cancelled there`,
    );
    expect(timedOut).toEqual(['slow on n1']);
    expect(log).toEqual(['start slow on n1', 'cancel slow on n1']);
    expect(next.state).toBe('waiting');
    scheduler.nodeLeft('n1', slow.id);
    expect(log.at(-1)).toBe('start next on n1');
  });

  it('only active time counts: blocked stretches do not, and a run that ends in time leaves no timer', () => {
    for (const [after, ends] of [
      [39, 'completed'],
      [40, 'failed'],
    ] as const) {
      const { scheduler, clock } = setup(2);
      const parent = scheduler.submit({ task: 'parent', input: 1, timeoutMs: 100 });
      clock.advance(60);
      const [child] = scheduler.block(parent.id, [{ task: 'child', input: 1 }]);
      clock.advance(10_000);
      scheduler.complete(child!.id, 'C');
      // It continues on its node with 40 ms of its 100 left.
      expect(parent.state).toBe('executing');
      clock.advance(after);
      if (parent.state === 'executing') scheduler.complete(parent.id, 'P');
      expect(parent.state).toBe(ends);
      expect(clock.pending).toBe(0);
    }
  });
});
