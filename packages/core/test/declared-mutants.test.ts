// Found by the mutation run (npm run check:mutants): a request whose declared dependency failed
// fails with a DependencyFailedError whose cause is the dependency's own error, even when that
// error has a cause of its own; only a dependency that itself failed for a dependency passes its
// root cause on. Taking any error's cause went unnoticed by every other test.
import { DependencyFailedError } from '@troupe/core';
import { Scheduler, type SchedulerHost } from '@troupe/core/internal';
import { describe, expect, it } from 'vitest';

const host: SchedulerHost = { start() {}, unblock() {}, grant() {}, cancel() {} };

describe('declared dependencies: the cause of a dependency failure', () => {
  it("is the dependency's own error, not that error's cause", () => {
    let n = 0;
    const scheduler = new Scheduler({ host, ids: { next: (kind) => `${kind}${++n}` } });
    scheduler.addNode('n1');
    const base = { task: 'base', input: null };
    const [top] = scheduler.submitAll([{ task: 'top', input: null, deps: [base] }]);
    const dependency = scheduler.activeOn('n1')!;
    expect(dependency.spec.task).toBe('base');
    const own = new Error('base failed', { cause: new Error('disk full') });
    scheduler.fail(dependency.id, own);
    expect(top!.state).toBe('failed');
    expect(top!.error).toBeInstanceOf(DependencyFailedError);
    expect((top!.error as Error).cause).toBe(own);
  });
});
