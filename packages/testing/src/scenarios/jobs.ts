// The jobs scenario: one leased job, cancelled while it ends, its lease perhaps lost.
import { JobDispatcher, MemoryJobServer } from '@troupe/core';
import { InProcessJobWorkers, internalSeams } from '@troupe/core/internal';
import { jobsEndOnce } from '../sim/monitors.js';
import type { Scenario } from '../sim/scenario.js';
import { completeJobTwice, unboundedReport } from './broken.js';
import { timedJob, world } from './tasks.js';

/**
 * One job in an in-process worker under a lease, cancelled by a user at a moment the explorer
 * picks, racing with its own end; the lease may be lost (a fault). Must hold: one result, and
 * the dispatcher's run ends. `complete-twice` reports a cancelled job's result twice;
 * `unbounded-report` waits for ever on the acknowledgement of its report.
 */
export const jobsScenario: Scenario = {
  name: 'jobs',
  module: import.meta.url,
  faults: { max: 1 },
  variants: ['complete-twice', 'unbounded-report'],
  setup(sim, variant) {
    world.clock = sim.clock;
    const server = new MemoryJobServer({ clock: sim.clock, leaseMs: 20 });
    const dispatcherOfJobs = new JobDispatcher({
      source: server,
      workers: new InProcessJobWorkers({ transport: sim.transport, clock: sim.clock, random: sim.random }),
      clock: sim.clock,
      channelTimeoutMs: 50,
      cancelTimeoutMs: 30,
      killTimeoutMs: 10,
      lease: { renewIntervalMs: 5, retryStartMs: 2, retryMaxMs: 5 },
      ...(variant === 'complete-twice' && { [internalSeams]: completeJobTwice(server) }),
      ...(variant === 'unbounded-report' && { [internalSeams]: unboundedReport(server) }),
    });
    const ended = new Set<string>();
    dispatcherOfJobs.on('completed', (event) => ended.add(event.job.id));
    dispatcherOfJobs.on('state', (slot, state, job) =>
      sim.note(`  slot ${slot} ${job}: ${JSON.stringify(state)}`),
    );
    sim.addMonitor(jobsEndOnce(server, () => ended));
    server.add({ id: 'job-1', job: timedJob.id, message: { ms: 4 } });
    server.close();
    sim.addAction('user cancels job-1', () => dispatcherOfJobs.cancel('job-1'));
    sim.addFault('the job server refuses renewals of job-1', () => server.failRenewals('job-1'));
    return {
      async run() {
        await dispatcherOfJobs.run();
      },
      fingerprint: () => JSON.stringify(dispatcherOfJobs.states),
    };
  },
};
