import {
  type Clock,
  InvalidOptionError,
  RequestCycleError,
  type ScheduledRequest,
  StallError,
} from '@troupe/core';
import { Scheduler, type SchedulerHost } from '@troupe/core/internal';
import { VirtualClock } from '@troupe/testing';
import { describe, expect, it } from 'vitest';

/** A host that records what the scheduler decided, one line per decision. */
function recordingHost() {
  const log: string[] = [];
  const host: SchedulerHost & { log: string[] } = {
    log,
    start: (r, node) => log.push(`start ${r.spec.task} on ${node}`),
    unblock: (r, node) => log.push(`unblock ${r.spec.task} on ${node}`),
    grant: (r, node) => log.push(`grant ${r.spec.task} on ${node}`),
    cancel: (r, node) => log.push(`cancel ${r.spec.task} on ${node}`),
  };
  return host;
}

function setup(nodes: number, options: { clock?: Clock; prefetch?: number; maxNodes?: number } = {}) {
  const host = recordingHost();
  let n = 0;
  const scheduler = new Scheduler({
    host,
    ids: { next: (kind) => `${kind}${++n}` },
    ...(options.clock && { clock: options.clock }),
    ...(options.prefetch !== undefined && { prefetch: options.prefetch }),
    ...(options.maxNodes !== undefined && { maxNodes: options.maxNodes }),
  });
  for (let i = 1; i <= nodes; i++) scheduler.addNode(`n${i}`);
  const submit = (task: string, cost?: number) =>
    scheduler.submit({ task, input: null, ...(cost && { cost }) });
  return { scheduler, host, submit };
}

describe('scheduler', () => {
  it('runs at most one active request per node and starts waiting work as nodes free up', () => {
    const { scheduler, host, submit } = setup(2);
    const [a, b, c] = [submit('a'), submit('b'), submit('c')];
    expect(host.log).toEqual(['start a on n1', 'start b on n2']);
    expect(c.state).toBe('waiting');
    scheduler.complete(a.id, 1);
    expect(host.log.at(-1)).toBe('start c on n1');
    expect(scheduler.activeOn('n1')).toBe(c);
    expect(b.state).toBe('executing');
  });

  it('one promise for many requests settles when the last of them ends, however each ended', async () => {
    const { scheduler, submit } = setup(2);
    const [a, b, c] = [submit('a'), submit('b'), submit('c')];
    let settled = false;
    const all = scheduler.whenAllSettled([a, b, c, a]).then(() => {
      settled = true;
    });
    scheduler.complete(a.id, 1);
    scheduler.cancel(c.id);
    await Promise.resolve();
    expect(settled).toBe(false);
    scheduler.fail(b.id, new Error('broke'));
    await all;
    expect([a.state, b.state, c.state]).toEqual(['completed', 'failed', 'cancelled']);
    await scheduler.whenAllSettled([a, b, c]);
  });

  it('a blocked request frees its node for another request and resumes on the same node', () => {
    const { scheduler, host, submit } = setup(1);
    const parent = submit('parent');
    const children = scheduler.block(parent.id, [{ task: 'child', input: 1 }]);
    expect(parent.state).toBe('blocked');
    expect(host.log).toEqual(['start parent on n1', 'start child on n1']);
    scheduler.complete(children[0]!.id, 'done');
    expect(parent.state).toBe('executing');
    expect(host.log.at(-1)).toBe('unblock parent on n1');
  });

  it('a yielded request lets another run on its node; reacquire waits until that node is free', () => {
    const { scheduler, host, submit } = setup(1);
    const a = submit('a');
    scheduler.yield(a.id);
    const b = submit('b');
    expect(host.log).toEqual(['start a on n1', 'start b on n1']);
    scheduler.reacquire(a.id);
    expect(a.state).toBe('reacquiring');
    expect(scheduler.activeOn('n1')).toBe(b);
    scheduler.complete(b.id, null);
    expect(a.state).toBe('executing');
    expect(host.log.at(-1)).toBe('grant a on n1');
  });

  it('a continuation waiting for its node goes before new work (node affinity)', () => {
    const { scheduler, host, submit } = setup(2);
    const a = submit('a');
    const b = submit('b');
    scheduler.yield(a.id);
    const c = submit('c'); // takes n1, a's node
    scheduler.reacquire(a.id);
    submit('d');
    scheduler.complete(c.id, null);
    expect(host.log.at(-1)).toBe('grant a on n1');
    expect(b.node).toBe('n2');
  });

  it('builds identical requests once and shares the result', async () => {
    const { scheduler, submit } = setup(1);
    const first = scheduler.submit({ task: 't', input: { x: 1, y: 2 } });
    const second = scheduler.submit({ task: 't', input: { y: 2, x: 1 } });
    expect(second).toBe(first);
    const settled = scheduler.whenSettled(second);
    scheduler.complete(first.id, 42);
    expect((await settled).value).toBe(42);
    expect(scheduler.submit({ task: 't', input: { x: 1, y: 2 } })).toBe(first);
    expect(submit('other').id).not.toBe(first.id);
  });

  it('takes the longest remaining path first, then submission order', () => {
    const { scheduler, host, submit } = setup(1);
    const root = submit('root');
    scheduler.block(root.id, [
      { task: 'short', input: null, cost: 1 },
      { task: 'long', input: null, cost: 10 },
      { task: 'medium', input: null, cost: 5 },
    ]);
    expect(host.log.at(-1)).toBe('start long on n1');
  });

  it('fails every request in a cycle with an error that prints the cycle', async () => {
    const { scheduler, submit } = setup(2);
    const a = submit('a');
    const children = scheduler.block(a.id, [{ task: 'b', input: null }]);
    const b = children[0]!;
    expect(b.state).toBe('executing');
    scheduler.block(b.id, [{ task: 'a', input: null }]);
    expect(a.state).toBe('failed');
    expect(b.state).toBe('failed');
    expect(a.error).toBeInstanceOf(RequestCycleError);
    expect(a.error?.message).toBe(
      `requests wait on each other in a cycle: ${b.id} (b) → ${a.id} (a) → ${b.id} (b)`,
    );
  });

  it('a request that waits on itself fails with a cycle error', () => {
    const { scheduler, submit } = setup(1);
    const a = submit('a');
    scheduler.block(a.id, [{ task: 'a', input: null }]);
    expect(a.error).toBeInstanceOf(RequestCycleError);
  });

  it('unblocks a parent whose dependency failed, so its task sees the failure', () => {
    const { scheduler, host, submit } = setup(1);
    const parent = submit('parent');
    const children = scheduler.block(parent.id, [{ task: 'child', input: null }]);
    scheduler.fail(children[0]!.id, new Error('boom'));
    expect(parent.state).toBe('executing');
    expect(host.log.at(-1)).toBe('unblock parent on n1');
    expect(children[0]!.error?.message).toBe('boom');
  });

  it('cancelling a request cancels what only it was waiting for, on the nodes running them', () => {
    const { scheduler, host, submit } = setup(2);
    const parent = submit('parent');
    const children = scheduler.block(parent.id, [
      { task: 'c1', input: null },
      { task: 'c2', input: null },
    ]);
    const shared = submit('other');
    scheduler.cancel(parent.id);
    expect(parent.state).toBe('cancelled');
    expect(children.map((c) => c.state)).toEqual(['cancelled', 'cancelled']);
    expect(host.log).toEqual(
      expect.arrayContaining(['cancel parent on n1', 'cancel c1 on n2', 'cancel c2 on n1']),
    );
    expect(shared.state).not.toBe('cancelled');
  });

  it('a lost node fails the requests whose continuation lived there, and only those', () => {
    const { scheduler, submit } = setup(2);
    const a = submit('a');
    const b = submit('b');
    scheduler.removeNode('n1', new Error('node died'));
    expect(a.state).toBe('failed');
    expect(b.state).toBe('executing');
  });

  it('reports a stall, then fails with an error naming the requests that hold the nodes', () => {
    const clock = new VirtualClock();
    const { scheduler, submit } = setup(2, { clock });
    const stalls: number[] = [];
    scheduler.on('stall', (report) => stalls.push(report.holders.length));
    const holders = [submit('worker-1'), submit('worker-2')];
    const starved = submit('dispatcher');
    clock.advance(4_999);
    expect(stalls).toEqual([]);
    clock.advance(1);
    expect(stalls).toEqual([2]);
    expect(scheduler.state).toBe('stalled');
    clock.advance(10_000);
    expect(scheduler.state).toBe('failed');
    for (const request of [...holders, starved]) expect(request.error).toBeInstanceOf(StallError);
    const message = holders[0]!.error!.message;
    expect(message).toContain('worker-1');
    expect(message).toContain('worker-2');
    expect(message).toContain('15000 ms');
    expect(message).toMatch(/yield/);
  });

  it('progress while a stall is suspected, that does not end it, starts the stall clock again', () => {
    const clock = new VirtualClock();
    const { scheduler, submit } = setup(2, { clock });
    const stalls: number[] = [];
    scheduler.on('stall', () => stalls.push(clock.now()));
    const [, b] = [submit('a'), submit('b'), submit('c'), submit('d')];
    expect(scheduler.state).toBe('suspected');
    clock.advance(3_000);
    scheduler.complete(b!.id, 'done'); // progress: c takes the node, d still waits
    expect(scheduler.state).toBe('suspected');
    clock.advance(4_999);
    expect(stalls).toEqual([]);
    clock.advance(1);
    expect(stalls).toEqual([8_000]);
  });

  it('a stall that was reported ends with the next progress', () => {
    const clock = new VirtualClock();
    const { scheduler, submit } = setup(2, { clock });
    const holders = [submit('worker-1'), submit('worker-2')];
    const starved = submit('dispatcher');
    clock.advance(5_000);
    expect(scheduler.state).toBe('stalled');
    scheduler.yield(holders[0]!.id);
    expect(starved.state).toBe('executing');
    expect(scheduler.state).toBe('flowing');
    clock.advance(60_000);
    expect(scheduler.state).toBe('flowing');
    expect(starved.error).toBeUndefined();
  });

  it('progress resets the stall clock; yielding ends the stall', () => {
    const clock = new VirtualClock();
    const { scheduler, submit } = setup(1, { clock });
    const worker = submit('worker');
    const waiting = submit('next');
    clock.advance(4_000);
    scheduler.yield(worker.id);
    expect(waiting.state).toBe('executing');
    expect(scheduler.state).toBe('flowing');
    clock.advance(60_000);
    expect(scheduler.state).not.toBe('failed');
  });

  it('refuses illegal request transitions loudly', () => {
    const { scheduler, submit } = setup(1);
    const a = submit('a');
    expect(() => scheduler.reacquire(a.id)).toThrow(/executing, not yielded/);
    const b = submit('b');
    expect(() => scheduler.complete(b.id, null)).toThrow(/waiting, not executing/);
  });

  it('asks the host to grow the pool up to the maximum when work waits', () => {
    const grown: number[] = [];
    const host = { ...recordingHost(), grow: (count: number) => grown.push(count) };
    const scheduler = new Scheduler({ host, maxNodes: 3 });
    scheduler.addNode('n1');
    for (let i = 0; i < 5; i++) scheduler.submit({ task: `t${i}`, input: null });
    expect(grown.reduce((a, b) => a + b, 0)).toBe(2);
    scheduler.addNode('n2');
    scheduler.addNode('n3');
    expect(grown.reduce((a, b) => a + b, 0)).toBe(2);
  });

  it('never lets two requests be active on one node, whatever the order of events', () => {
    const { scheduler, submit } = setup(3);
    const active = new Map<string, ScheduledRequest>();
    scheduler.on('transition', (request, from, to) => {
      if (to === 'executing') {
        expect(active.has(request.node!)).toBe(false);
        active.set(request.node!, request);
      } else if (from === 'executing') active.delete(request.node!);
    });
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const live: ScheduledRequest[] = [];
    for (let i = 0; i < 40; i++) live.push(submit(`r${i}`));
    for (let step = 0; step < 2_000 && scheduler.unfinished > 0; step++) {
      const candidates = [...live].filter((r) => r.state === 'executing' || r.state === 'yielded');
      const r = candidates[Math.floor(random() * candidates.length)];
      if (!r) break;
      const dice = random();
      if (r.state === 'yielded') scheduler.reacquire(r.id);
      else if (dice < 0.2) scheduler.yield(r.id);
      else if (dice < 0.35) live.push(...scheduler.block(r.id, [{ task: `d${step}`, input: null }]));
      else scheduler.complete(r.id, null);
    }
    expect(scheduler.unfinished).toBe(0);
  });
});

describe('scheduler: requests sent ahead (prefetch)', () => {
  it('stages requests on a busy node; the first staged one starts when the active one leaves', () => {
    const { scheduler, host, submit } = setup(1, { prefetch: 2 });
    const [a, b, c, d] = [submit('a'), submit('b'), submit('c'), submit('d')];
    expect(host.log).toEqual(['start a on n1', 'start b on n1', 'start c on n1']);
    expect([a.state, b.state, c.state, d.state]).toEqual(['executing', 'staged', 'staged', 'waiting']);
    scheduler.complete(a.id, 1);
    // b starts with no message (the node starts it by itself); d is sent ahead in its place.
    expect(scheduler.activeOn('n1')).toBe(b);
    expect(b.state).toBe('executing');
    expect(host.log.slice(3)).toEqual(['start d on n1']);
    scheduler.yield(b.id);
    expect(scheduler.activeOn('n1')).toBe(c);
    scheduler.block(c.id, []);
    expect(scheduler.activeOn('n1')).toBe(d);
  });

  it('never grants a continuation while staged requests are pending there, and stages nothing more meanwhile', () => {
    const { scheduler, host, submit } = setup(1, { prefetch: 1 });
    const a = submit('a');
    scheduler.yield(a.id);
    const [b, c, d] = [submit('b'), submit('c'), submit('d')];
    expect(host.log).toEqual(['start a on n1', 'start b on n1', 'start c on n1']);
    scheduler.reacquire(a.id);
    scheduler.complete(b.id, 1);
    // c was staged before a wanted its node back: c goes first, and d is not staged meanwhile.
    expect(scheduler.activeOn('n1')).toBe(c);
    expect(host.log.slice(3)).toEqual([]);
    scheduler.complete(c.id, 1);
    // a has its node back; only now may d be sent ahead, behind a.
    expect(host.log.slice(3)).toEqual(['grant a on n1', 'start d on n1']);
    expect(d.state).toBe('staged');
    scheduler.complete(a.id, 1);
    expect(scheduler.activeOn('n1')).toBe(d);
  });

  it('stages only once the pool is at its full size', () => {
    const { scheduler, host, submit } = setup(1, { prefetch: 4, maxNodes: 2 });
    submit('a');
    submit('b');
    expect(host.log).toEqual(['start a on n1']);
    scheduler.addNode('n2');
    expect(host.log).toEqual(['start a on n1', 'start b on n2']);
    submit('c');
    expect(host.log.at(-1)).toBe('start c on n1');
  });

  it('a cancelled staged request holds its place on the node until the node answers for it', () => {
    const { scheduler, host, submit } = setup(1, { prefetch: 2 });
    const [a, b, c] = [submit('a'), submit('b'), submit('c')];
    scheduler.cancel(b.id);
    expect(host.log.at(-1)).toBe('cancel b on n1');
    expect(b.state).toBe('cancelled');
    // The node may have started b already (if a had left before the cancel reached it): until
    // it answers for b, b stands between a and c.
    scheduler.complete(a.id, 1);
    expect(scheduler.activeOn('n1')).toBe(b);
    expect(c.state).toBe('staged');
    scheduler.nodeLeft('n1', b.id);
    expect(scheduler.activeOn('n1')).toBe(c);
    expect(c.state).toBe('executing');
  });

  it('a cancelled staged request the node dropped unstarted leaves the queue when it says so', () => {
    const { scheduler, submit } = setup(1, { prefetch: 2 });
    const [a, b, c] = [submit('a'), submit('b'), submit('c')];
    scheduler.cancel(b.id);
    scheduler.nodeLeft('n1', b.id); // the node's answer: it never ran b
    scheduler.complete(a.id, 1);
    expect(scheduler.activeOn('n1')).toBe(c);
  });

  it('a cancelled running request holds its node until the node says it has stopped', () => {
    const { scheduler, host, submit } = setup(1);
    const a = submit('a');
    scheduler.yield(a.id);
    const b = submit('b');
    scheduler.reacquire(a.id);
    scheduler.cancel(b.id);
    // b's task runs on until it notices the cancel: granting a now would run a beside it.
    expect(host.log).toEqual(['start a on n1', 'start b on n1', 'cancel b on n1']);
    scheduler.nodeLeft('n1', b.id);
    expect(host.log.at(-1)).toBe('grant a on n1');
  });

  it('a node that dies fails its staged requests with its active one', () => {
    const { scheduler, submit } = setup(2, { prefetch: 1 });
    const [a, b, c, d] = [submit('a'), submit('b'), submit('c'), submit('d')];
    expect([c.node, d.node]).toEqual(['n1', 'n2']);
    scheduler.removeNode('n1', new Error('node died'));
    expect([a.state, c.state]).toEqual(['failed', 'failed']);
    expect([b.state, d.state]).toEqual(['executing', 'staged']);
  });

  it('counts staged requests as waiting work for the stall question', () => {
    const clock = new VirtualClock();
    const { scheduler, submit } = setup(1, { prefetch: 1, clock });
    const stalls: number[] = [];
    scheduler.on('stall', (report) => stalls.push(report.waiting));
    const [holder, staged] = [submit('holder'), submit('staged')];
    expect(staged.state).toBe('staged');
    clock.advance(5_000);
    expect(stalls).toEqual([1]);
    clock.advance(10_000);
    expect(holder.error).toBeInstanceOf(StallError);
    expect(staged.error).toBeInstanceOf(StallError);
  });

  it('refuses a prefetch that is not a non-negative integer, as an invalid option', () => {
    for (const prefetch of [-1, 1.5]) {
      let refused: unknown;
      try {
        new Scheduler({ host: recordingHost(), prefetch });
      } catch (error) {
        refused = error;
      }
      expect(refused).toBeInstanceOf(InvalidOptionError);
      expect(refused).toMatchObject({ option: 'prefetch', received: prefetch });
    }
  });
});
