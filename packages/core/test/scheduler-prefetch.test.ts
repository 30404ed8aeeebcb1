import { InvalidOptionError, type ScheduledRequest } from '@troupe/core';
import { Scheduler, type SchedulerHost } from '@troupe/core/internal';
import { VirtualClock } from '@troupe/testing';
import { describe, expect, it } from 'vitest';

// Sending work ahead (prefetch), in virtual time, where a makespan is exact: nodes a message
// takes `latency` ms to reach and whose results take as long to come back, each running what it
// was sent one at a time, in the order it arrived, as a real node does with staged requests.

function world(options: { nodes: number; latency: number; prefetch: number | 'auto' }) {
  const clock = new VirtualClock();
  const queues = new Map<string, ScheduledRequest[]>();
  const busy = new Set<string>();
  /** Which node ran each task, in the order the nodes started them. */
  const ran: string[] = [];
  const runNext = (node: string) => {
    const request = queues.get(node)!.shift();
    if (!request) {
      busy.delete(node);
      return;
    }
    busy.add(node);
    ran.push(`${request.spec.task} on ${node}`);
    clock.setTimeout(() => {
      clock.setTimeout(() => scheduler.complete(request.id, request.spec.task), options.latency);
      runNext(node);
    }, request.spec.cost!);
  };
  const host: SchedulerHost = {
    start: (request, node) =>
      clock.setTimeout(() => {
        queues.get(node)!.push(request);
        if (!busy.has(node)) runNext(node);
      }, options.latency),
    unblock: () => {
      throw new Error('no request here blocks');
    },
    grant: () => {
      throw new Error('no request here yields');
    },
    cancel: () => {
      throw new Error('no request here is cancelled');
    },
  };
  let n = 0;
  const scheduler = new Scheduler({
    host,
    clock,
    prefetch: options.prefetch,
    ids: { next: (kind) => `${kind}${++n}` },
  });
  for (let i = 1; i <= options.nodes; i++) {
    queues.set(`n${i}`, []);
    scheduler.addNode(`n${i}`);
  }
  return {
    scheduler,
    ran,
    /** Runs the clock until every request has ended; the makespan. */
    finish(): number {
      clock.runAll();
      expect(scheduler.unfinished).toBe(0);
      return clock.now();
    },
  };
}

const spec = (task: string, cost: number) => ({ task, input: task, cost });

describe("scheduler: prefetch 'auto' (virtual time)", () => {
  it('hides the round trip behind a task known to be short, once one of its runs has shown it', () => {
    // Ten tasks of 2 ms on one node, 1 ms each way. Without prefetch each costs 2 + 2 × 1: 40.
    // With 'auto' the first run is a round trip of its own (its task is unknown: 4); from then on
    // the next one is always there when the node finishes: 1 + 4 + 9 × 2 + 1 = 24.
    const build = (prefetch: number | 'auto') => {
      const w = world({ nodes: 1, latency: 1, prefetch });
      const requests = w.scheduler.submitAll(Array.from({ length: 10 }, (_, i) => spec(`s${i}`, 2)));
      const makespan = w.finish();
      expect(requests.map((r) => r.value)).toEqual(requests.map((r) => r.spec.task));
      return makespan;
    };
    expect(build(0)).toBe(40);
    // Every task name differs, so no run is known short: nothing is sent ahead.
    expect(build('auto')).toBe(40);
    const sameTask = (prefetch: number | 'auto') => {
      const w = world({ nodes: 1, latency: 1, prefetch });
      const requests = w.scheduler.submitAll(
        Array.from({ length: 10 }, (_, i) => ({ task: 'short', input: i, cost: 2 })),
      );
      const makespan = w.finish();
      expect(requests.map((r) => r.value)).toEqual(Array(10).fill('short'));
      return makespan;
    };
    expect(sameTask(0)).toBe(40);
    expect(sameTask('auto')).toBe(24);
  });

  it('sends nothing ahead behind a long or unknown task, where a fixed prefetch commits work to wait', () => {
    // A 50 ms task and eight of 2 ms on two nodes, 1 ms each way. A fixed prefetch of 1 stages a
    // short task behind the long one at once: it runs only after it, ending at 1 + 50 + 2 + 1 =
    // 54. 'auto' stages nothing behind the long task (unknown, then running past the bound), so
    // the short ones all run on the other node and the long one alone decides: 1 + 50 + 1 = 52.
    const build = (prefetch: number | 'auto') => {
      const w = world({ nodes: 2, latency: 1, prefetch });
      const shorts = Array.from({ length: 8 }, (_, i) => ({ task: 'short', input: i, cost: 2 }));
      w.scheduler.submitAll([spec('long', 50), ...shorts]);
      const makespan = w.finish();
      return { makespan, behindLong: w.ran.filter((line) => line.endsWith('on n1')) };
    };
    expect(build(1)).toEqual({ makespan: 54, behindLong: ['long on n1', 'short on n1'] });
    expect(build('auto')).toEqual({ makespan: 52, behindLong: ['long on n1'] });
  });

  it('does not stage behind a task whose runs average past the bound, even when one was short', () => {
    // 'mixed' ran once for 1 ms and once for 40 ms (average over the bound): a third run of it
    // is not staged behind, so the short task waiting goes to the node that frees first.
    const w = world({ nodes: 1, latency: 0, prefetch: 'auto' });
    w.scheduler.submit({ task: 'mixed', input: 1, cost: 1 });
    w.finish();
    w.scheduler.submit({ task: 'mixed', input: 2, cost: 40 });
    w.finish();
    const third = w.scheduler.submit({ task: 'mixed', input: 3, cost: 1 });
    const next = w.scheduler.submit({ task: 'short', input: 1, cost: 1 });
    expect([third.state, next.state]).toEqual(['executing', 'waiting']);
    w.finish();
    expect(next.value).toBe('short');
  });

  it("is refused as anything but a non-negative integer or 'auto'", () => {
    const host = {} as SchedulerHost;
    expect(() => new Scheduler({ host, prefetch: 'always' as 'auto' })).toThrow(InvalidOptionError);
    expect(() => new Scheduler({ host, prefetch: -1 })).toThrow(/non-negative integer or 'auto'/);
  });
});
