import { firstInFirstOut, type RequestSpec, type ScheduledRequest } from '@troupe/core';
import { Scheduler, type SchedulerHost } from '@troupe/core/internal';
import { VirtualClock } from '@troupe/testing';
import { describe, expect, it } from 'vitest';

// Scheduling quality, in virtual time, where a makespan is exact: small graphs on which the
// policy's choices (bottom-level priorities, the priority a dependency inherits from its waiter,
// restarts) decide the makespan. Each test states the makespan of the right choice and, where it
// helps to see what the test guards, of the wrong one.

/** What a task does, step by step: work for a while, or wait on other requests (ctx.build). */
type Step = { work: number } | { build: RequestSpec[] };

interface Run {
  request: ScheduledRequest;
  step: number;
  alive: boolean;
}

/**
 * Runs requests the way nodes would: each task's script (default: work for its cost) on the
 * virtual clock, ctx.build through `scheduler.block`. Records the makespan, each request's value
 * (its task and the values it waited on) and how many steps after a wait each task ran.
 */
function world(options: {
  nodes: number;
  scripts?: Record<string, Step[]>;
  restartable?: readonly string[];
  restarts?: boolean;
  fifo?: boolean;
}) {
  const clock = new VirtualClock();
  const runs = new Map<string, Run>();
  const afterWait = new Map<string, number>();
  const starts = new Map<string, number>();
  const scriptOf = (request: ScheduledRequest): Step[] =>
    options.scripts?.[request.spec.task] ?? [{ work: request.spec.cost ?? 1 }];
  const advance = (run: Run) => {
    if (!run.alive) return;
    const steps = scriptOf(run.request);
    const step = steps[run.step++];
    if (run.step > 1 && steps[run.step - 2] && 'build' in steps[run.step - 2]!)
      afterWait.set(run.request.spec.task, (afterWait.get(run.request.spec.task) ?? 0) + 1);
    if (!step) {
      const waited = run.request.awaited?.map((r) => r.value) ?? [];
      const declared = run.request.declared?.map((r) => r.value) ?? [];
      scheduler.complete(run.request.id, `${run.request.spec.task}(${[...declared, ...waited].join(',')})`);
      return;
    }
    if ('work' in step) clock.setTimeout(() => advance(run), step.work);
    else
      clock.setTimeout(
        () =>
          scheduler.block(run.request.id, step.build, options.restartable?.includes(run.request.spec.task)),
        0,
      );
  };
  const host: SchedulerHost = {
    start: (request) => {
      starts.set(request.spec.task, (starts.get(request.spec.task) ?? 0) + 1);
      const run = { request, step: 0, alive: true };
      runs.set(request.id, run);
      clock.setTimeout(() => advance(run), 0);
    },
    unblock: (request) => {
      const run = runs.get(request.id)!;
      clock.setTimeout(() => advance(run), 0);
    },
    grant: () => {},
    cancel: (request) => {
      const run = runs.get(request.id);
      if (run) run.alive = false;
    },
    ...(options.restarts !== false && {
      restart: (request: ScheduledRequest) => {
        runs.get(request.id)!.alive = false;
      },
    }),
  };
  let n = 0;
  const scheduler = new Scheduler({
    host,
    clock,
    ids: { next: (kind) => `${kind}${++n}` },
    ...(options.fifo && { policy: firstInFirstOut }),
  });
  for (let i = 1; i <= options.nodes; i++) scheduler.addNode(`n${i}`);
  return {
    scheduler,
    clock,
    starts,
    afterWait,
    /** Runs the clock until every request has ended; the makespan. */
    finish(): number {
      clock.runAll();
      expect(scheduler.unfinished).toBe(0);
      return clock.now();
    },
  };
}

const spec = (task: string, cost: number, deps: RequestSpec[] = []): RequestSpec => ({
  task,
  input: null,
  cost,
  ...(deps.length > 0 && { deps }),
});

describe('scheduling quality (virtual time)', () => {
  it('declared: the long chain goes first, behind independent work submitted before it', () => {
    // Four independent tasks of 2, then a chain c1 <- c2 <- c3 <- c4 of 2 each, on 2 nodes.
    // Bottom levels put c1 (8) before the independent ones (2): makespan 8, the optimum.
    // Submission order would run the independent ones first: 12.
    const build = (fifo: boolean) => {
      const w = world({ nodes: 2, fifo });
      const independent = [1, 2, 3, 4].map((i) => spec(`x${i}`, 2));
      const c1 = spec('c1', 2);
      const c2 = spec('c2', 2, [c1]);
      const c3 = spec('c3', 2, [c2]);
      const c4 = spec('c4', 2, [c3]);
      const [top] = w.scheduler.submitAll([c4, ...independent].reverse()).reverse();
      const makespan = w.finish();
      expect(top!.value).toBe('c4(c3(c2(c1())))');
      return makespan;
    };
    expect(build(false)).toBe(8);
    expect(build(true)).toBe(12);
  });

  it("discovered: a dependency inherits its waiter's priority and runs before cheaper waiting work", () => {
    // P (cost 10) runs 1, asks for c (cost 1), then runs 8 more. x1..x3 (3 each) wait meanwhile.
    // c inherits P's priority (1 + 10): it runs at once, P resumes at 2 and ends at 10. Without
    // the inheritance c queues behind x2 and P ends at 13.
    const w = world({
      nodes: 2,
      scripts: { P: [{ work: 1 }, { build: [spec('c', 1)] }, { work: 8 }] },
    });
    const [p] = w.scheduler.submitAll([spec('P', 10), spec('x1', 3), spec('x2', 3), spec('x3', 3)]);
    expect(w.finish()).toBe(10);
    expect(p!.value).toBe('P(c())');
  });

  it('restartable: a continuation whose node is busy runs again on a free node instead of waiting', () => {
    // P starts alone on n1 and at once asks for c; n1 then takes W (10), n2 runs z (1) and then c.
    // When c is done (t=2) P's node is busy until 10: restarting P on n2 ends the build at 10,
    // waiting for n1 at 11.
    const build = (restarts: boolean) => {
      const w = world({
        nodes: 2,
        restarts,
        restartable: ['P'],
        scripts: { P: [{ build: [spec('c', 1)] }, { work: 1 }] },
      });
      const p = w.scheduler.submit(spec('P', 1));
      w.scheduler.submit(spec('z', 1));
      w.scheduler.submit(spec('W', 10));
      const makespan = w.finish();
      expect(p.value).toBe('P(c())');
      // The first run never went on past its wait: the step after it ran once, in the second run.
      expect(w.afterWait.get('P')).toBe(1);
      expect(w.starts.get('c')).toBe(1);
      return { makespan, restarts: w.scheduler.restarts, started: w.starts.get('P') };
    };
    expect(build(true)).toEqual({ makespan: 10, restarts: 1, started: 2 });
    expect(build(false)).toEqual({ makespan: 11, restarts: 0, started: 1 });
  });

  it('restartable: a continuation survives the loss of its node and runs again on another', () => {
    const w = world({
      nodes: 2,
      restartable: ['P'],
      scripts: { P: [{ build: [spec('c', 5)] }, { work: 1 }] },
    });
    const p = w.scheduler.submit(spec('P', 1));
    w.clock.advance(1);
    expect(p.state).toBe('blocked');
    const pinned = p.node!;
    w.scheduler.removeNode(pinned, new Error('lost'));
    expect(p.state).toBe('blocked');
    expect(w.finish()).toBe(6);
    expect(p.state).toBe('completed');
    expect(p.value).toBe('P(c())');
    expect(p.node).not.toBe(pinned);
    expect(w.scheduler.restarts).toBe(1);
  });
});
