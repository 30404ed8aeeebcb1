// Broken behaviour (the model checker's variants) reaches one instance, through a seam only the
// internal door opens: nothing a production import can switch on for the process.

import type { ScheduledRequest } from '@troupe/core';
import * as core from '@troupe/core';
import {
  internalSeams,
  SCHEDULER_RULES,
  Scheduler,
  type SchedulerHost,
  type SchedulerRules,
} from '@troupe/core/internal';
import { describe, expect, it } from 'vitest';

function scheduler(rules?: Partial<SchedulerRules>) {
  const log: string[] = [];
  const record = (what: string) => (r: ScheduledRequest, node: string) =>
    log.push(`${what} ${r.spec.task} on ${node}`);
  const host: SchedulerHost = {
    start: record('start'),
    unblock: record('unblock'),
    grant: record('grant'),
    cancel: record('cancel'),
  };
  let n = 0;
  const instance = new Scheduler({
    host,
    ids: { next: (kind) => `${kind}${++n}` },
    ...(rules && { [internalSeams]: rules }),
  });
  instance.addNode('n1');
  return { scheduler: instance, log };
}

describe('seams for broken variants', () => {
  it('the public index has no switch for a broken behaviour, and no seam key', () => {
    for (const name of ['defects', 'resetDefects', 'internalSeams', 'SCHEDULER_RULES'])
      expect(core).not.toHaveProperty(name);
  });

  it("core's scheduler rules are frozen: no test can change them for the process", () => {
    expect(Object.isFrozen(SCHEDULER_RULES)).toBe(true);
  });

  it('a broken rule given to one scheduler leaves the scheduler beside it correct', () => {
    const broken = scheduler({ reacquireTakesBusyNode: () => true });
    const correct = scheduler();
    for (const { scheduler: s } of [broken, correct]) {
      const a = s.submit({ task: 'a', input: null });
      s.yield(a.id);
      s.submit({ task: 'b', input: null });
      s.reacquire(a.id);
    }
    // The broken one hands n1 back to a while b is active there; the correct one makes a wait.
    expect(broken.log).toEqual(['start a on n1', 'start b on n1', 'grant a on n1']);
    expect(correct.log).toEqual(['start a on n1', 'start b on n1']);
  });
});
