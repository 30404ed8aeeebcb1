// Found by the mutation run (npm run check:mutants): a host that throws while the scheduler hands
// it a decision (start, grant, unblock) must not lose the error nor stop the scheduler; dropping
// the report went unnoticed by every other test.
import type { ScheduledRequest } from '@troupe/core';
import { Scheduler, type SchedulerHost } from '@troupe/core/internal';
import { setUnhandledErrorReporter } from '@troupe/transport';
import { afterEach, describe, expect, it } from 'vitest';

const restores: Array<() => void> = [];
afterEach(() => {
  for (const restore of restores.splice(0)) restore();
});

/** A host that throws on the decisions named in `failOn`, recording the others. */
function brittleHost(failOn: Set<string>) {
  const log: string[] = [];
  const decide = (what: string) => (r: ScheduledRequest, node: string) => {
    if (failOn.has(`${what} ${r.spec.task}`)) throw new Error(`host cannot ${what} ${r.spec.task}`);
    log.push(`${what} ${r.spec.task} on ${node}`);
  };
  const host: SchedulerHost = {
    start: decide('start'),
    unblock: decide('unblock'),
    grant: decide('grant'),
    cancel: decide('cancel'),
  };
  return { host, log };
}

describe('scheduler: a host that throws', () => {
  it('reports the error of a failed start and keeps scheduling the rest', () => {
    const reported: unknown[] = [];
    restores.push(setUnhandledErrorReporter((error) => reported.push(error)));
    const { host, log } = brittleHost(new Set(['start b']));
    let n = 0;
    const scheduler = new Scheduler({ host, ids: { next: (kind) => `${kind}${++n}` } });
    scheduler.addNode('n1');
    scheduler.addNode('n2');
    const [a, b, c] = ['a', 'b', 'c'].map((task) => scheduler.submit({ task, input: null }));
    expect(reported.map((e) => (e as Error).message)).toEqual(['host cannot start b']);
    expect(b!.state).toBe('executing');
    expect(log).toEqual(['start a on n1']);
    // The scheduler goes on: a's node takes c when a completes.
    scheduler.complete(a!.id, 1);
    expect(log.at(-1)).toBe('start c on n1');
    expect(c!.state).toBe('executing');
  });

  it('reports the error of a failed grant', () => {
    const reported: unknown[] = [];
    restores.push(setUnhandledErrorReporter((error) => reported.push(error)));
    const { host } = brittleHost(new Set(['grant a']));
    let n = 0;
    const scheduler = new Scheduler({ host, ids: { next: (kind) => `${kind}${++n}` } });
    scheduler.addNode('n1');
    const a = scheduler.submit({ task: 'a', input: null });
    scheduler.yield(a.id);
    scheduler.reacquire(a.id);
    expect(reported.map((e) => (e as Error).message)).toEqual(['host cannot grant a']);
  });

  it('reports the error of a failed start of a request sent ahead to a busy node', () => {
    const reported: unknown[] = [];
    restores.push(setUnhandledErrorReporter((error) => reported.push(error)));
    const { host, log } = brittleHost(new Set(['start b']));
    let n = 0;
    const scheduler = new Scheduler({ host, prefetch: 1, ids: { next: (kind) => `${kind}${++n}` } });
    scheduler.addNode('n1');
    const a = scheduler.submit({ task: 'a', input: null });
    const b = scheduler.submit({ task: 'b', input: null });
    expect(b.state).toBe('staged');
    expect(reported.map((e) => (e as Error).message)).toEqual(['host cannot start b']);
    expect(log).toEqual(['start a on n1']);
    expect(a.state).toBe('executing');
  });
});
