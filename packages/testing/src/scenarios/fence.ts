// The fence scenario: two job agents share one job server; one stalls past its lease, the other
// takes the job, and the fencing token must keep the stalled one (a zombie) from reporting.
import { type Clock, JobDispatcher, type JobSource, MemoryJobServer } from '@troupe/core';
import { InProcessJobWorkers, internalSeams, type JobDispatcherSeams } from '@troupe/core/internal';
import { jobsHaveOneResult, oneWorkerPerJobPastTheFence, resultsFromTheHolder } from '../sim/monitors.js';
import type { Scenario } from '../sim/scenario.js';
import type { Simulation } from '../sim/simulation.js';
import { completeIgnoringToken, renewIgnoringToken, reportTwice, unboundedCancel } from './broken.js';
import { timedJob, world } from './tasks.js';

const LEASE_MS = 20;
// Short beside the job's 100 ms, so that a worker left running past the fence outlasts them.
const TIMEOUTS = { channelTimeoutMs: 10, cancelTimeoutMs: 10, killTimeoutMs: 5 };

/**
 * A stalled agent, as a SIGSTOP or a long GC pause makes one: while stalled, its timers that come
 * due and its calls to the job server (and their answers) are held back, and all of them go on
 * when it resumes. Its workers are processes of their own: they run on meanwhile.
 */
class Stall {
  #stalled = false;
  readonly #held: Array<() => void> = [];

  get stalled(): boolean {
    return this.#stalled;
  }

  begin(): void {
    this.#stalled = true;
  }

  resume(): void {
    this.#stalled = false;
    for (const run of this.#held.splice(0)) run();
  }

  /** `run` now, or once the agent resumes. */
  #later(run: () => void): void {
    if (this.#stalled) this.#held.push(run);
    else run();
  }

  #gate(): Promise<void> {
    return new Promise((resolve) => this.#later(resolve));
  }

  /** `base`, whose timers that come due while stalled fire when the agent resumes. */
  clock(base: Clock): Clock {
    const cleared = new Set<unknown>();
    return {
      now: () => base.now(),
      setTimeout: (callback, ms) => {
        const id = base.setTimeout(
          () =>
            this.#later(() => {
              if (!cleared.delete(id)) callback();
            }),
          ms,
        );
        return id;
      },
      clearTimeout: (id) => {
        base.clearTimeout(id);
        cleared.add(id);
      },
    };
  }

  /** `source`, whose calls leave and whose answers arrive only while the agent runs. */
  source(source: JobSource): JobSource {
    const held = <T>(call: () => Promise<T>): Promise<T> => {
      // Not stalled: the call leaves at once (a take queues in the order agents asked).
      const sent = this.#stalled ? this.#gate().then(call) : call();
      return sent.then(
        (value) => this.#gate().then(() => value),
        (error: unknown) =>
          this.#gate().then(() => {
            throw error;
          }),
      );
    };
    return {
      take: (signal) => held(() => source.take(signal)),
      renew: (job, signal) => held(() => source.renew(job, signal)),
      complete: (job, completion) => held(() => source.complete(job, completion)),
    };
  }
}

/** A job agent of the scenario: a dispatcher with one slot and in-process workers. */
function agent(sim: Simulation, source: JobSource, clock: Clock, seams?: JobDispatcherSeams): JobDispatcher {
  return new JobDispatcher({
    source,
    workers: new InProcessJobWorkers({ transport: sim.transport, clock: sim.clock, random: sim.random }),
    clock,
    ...TIMEOUTS,
    lease: { renewIntervalMs: 10, retryStartMs: 2, retryMaxMs: 5 },
    ...(seams && { [internalSeams]: seams }),
  });
}

/**
 * One job, two agents (`agent-a` asks first, so it takes it). A fault stalls agent-a while it
 * holds the job; it resumes once its lease has run out on the server's clock, at a moment the
 * explorer picks: before or after agent-b, waiting for work, takes the job, while agent-a's
 * worker runs on or has finished. Must hold: the job has exactly one result, recorded under the
 * newest token, and a superseded agent neither keeps its lease alive nor its worker running once
 * it hears of the fence. Two variants break the fence in the server: `complete-ignores-token`
 * records a zombie's result, `renew-ignores-token` renews a zombie's lease; `unbounded-cancel`
 * gives agent-a a dispatcher whose cancel never reaches the worker and is never timed out;
 * `report-twice` gives both agents dispatchers that send a job's result again once it was taken.
 */
export const fenceScenario: Scenario = {
  name: 'fence',
  module: import.meta.url,
  faults: { max: 1 },
  variants: ['complete-ignores-token', 'renew-ignores-token', 'unbounded-cancel', 'report-twice'],
  setup(sim, variant) {
    world.clock = sim.clock;
    const seams =
      variant === 'complete-ignores-token'
        ? completeIgnoringToken
        : variant === 'renew-ignores-token'
          ? renewIgnoringToken
          : undefined;
    const server = new MemoryJobServer({
      clock: sim.clock,
      leaseMs: LEASE_MS,
      ...(seams && { [internalSeams]: seams }),
    });
    const stall = new Stall();
    const sourceOfA = stall.source(server);
    const a = agent(
      sim,
      sourceOfA,
      stall.clock(sim.clock.for('agent-a')),
      variant === 'unbounded-cancel'
        ? unboundedCancel
        : variant === 'report-twice'
          ? reportTwice(sourceOfA)
          : undefined,
    );
    const b = agent(
      sim,
      server,
      sim.clock.for('agent-b'),
      variant === 'report-twice' ? reportTwice(server) : undefined,
    );
    const agents = [
      { name: 'agent-a', dispatcher: a },
      { name: 'agent-b', dispatcher: b },
    ];
    for (const { name, dispatcher } of agents) {
      dispatcher.on('state', (_slot, state, job) => sim.note(`  ${name} ${job}: ${JSON.stringify(state)}`));
      dispatcher.on('completed', ({ job, completion }) =>
        sim.note(`  ${name} ended ${job.id} (token ${job.lease}): ${completion?.result ?? 'no result'}`),
      );
    }
    sim.addMonitor(
      jobsHaveOneResult(server),
      resultsFromTheHolder(sim, server),
      oneWorkerPerJobPastTheFence(
        sim,
        server,
        agents,
        TIMEOUTS.channelTimeoutMs + TIMEOUTS.cancelTimeoutMs + TIMEOUTS.killTimeoutMs,
      ),
    );
    server.add({ id: 'job-1', job: timedJob.id, message: { ms: 100 } });
    // The queue stays open while the job is unfinished, so agent-b waits for the job to come back;
    // its one result closes it, and both agents' runs end.
    server.on('completed', () => server.close());
    let token: string | undefined;
    sim.addFault(
      'agent-a stalls',
      () => {
        token = a.jobs[0]?.lease;
        stall.begin();
      },
      () => !stall.stalled && a.states[0] !== 'idle',
    );
    sim.addAction(
      'agent-a resumes',
      () => stall.resume(),
      () => {
        if (!stall.stalled) return false;
        const job = server.get('job-1')!;
        // Past its lease: the lease it held has run out (or another take has the job by now).
        return job.lease !== token || (job.expiresAt ?? 0) <= sim.clock.now();
      },
    );
    return {
      async run() {
        await Promise.all([a.run(), b.run()]);
      },
      fingerprint: () => JSON.stringify([a.states, b.states, stall.stalled]),
    };
  },
};
