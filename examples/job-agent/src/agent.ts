// Memory mode: the scenario's jobs from an embedded job server (MemoryJobServer) through one job
// dispatcher in this process, each job in a fresh worker process.
import { JobDispatcher, MemoryJobServer, ProcessJobWorkers } from '@troupe/core';
import { isPidAlive } from '@troupe/core/internal';
import { type JobReport, watchDispatcher } from './report.js';
import { jobsModule, scenario } from './scenario.js';

export type { JobReport } from './report.js';

export interface AgentOptions {
  /** Jobs run at once. Default 3. */
  slots?: number;
  /** How long a cancelled job has to stop before it is killed. Default 1 s. */
  cancelTimeoutMs?: number;
  /** How long a lease lasts without renewal. Default 1.5 s (short, so the lost lease shows quickly). */
  leaseMs?: number;
  /** Each job as it ends. */
  onJob?: (report: JobReport) => void;
  /** Progress: a worker started, a log line, a state. */
  onEvent?: (line: string) => void;
}

export interface AgentRun {
  jobs: JobReport[];
  /** Worker processes still alive after the run (must be empty). */
  leftBehind: number[];
  /** The signal that stopped the run before its jobs were done, if one did. */
  interrupted?: 'SIGINT' | 'SIGTERM';
}

/** The dispatcher's timing for the demo: short leases and cancel timeouts, so everything shows quickly. */
export const demoDispatcher = {
  cancelTimeoutMs: 1_000,
  channelTimeoutMs: 10_000,
  lease: { renewIntervalMs: 300, retryStartMs: 100, retryMaxMs: 400 },
} as const;

/**
 * Runs the scenario's jobs from an embedded job server through a job dispatcher, each in a fresh
 * worker process, and reports how each ended and whether any worker process is left.
 */
export async function runAgent(options: AgentOptions = {}): Promise<AgentRun> {
  const server = new MemoryJobServer({ leaseMs: options.leaseMs ?? 1_500 });
  const dispatcher = new JobDispatcher({
    source: server,
    workers: new ProcessJobWorkers(),
    slots: options.slots ?? 3,
    ...demoDispatcher,
    cancelTimeoutMs: options.cancelTimeoutMs ?? demoDispatcher.cancelTimeoutMs,
  });
  const acts = new Map(scenario.map((s) => [s.id, s.act]));
  const reports: JobReport[] = [];
  const pids = watchDispatcher(dispatcher, {
    onJob: (report) => {
      reports.push(report);
      options.onJob?.(report);
    },
    ...(options.onEvent && { onEvent: options.onEvent }),
    onLog: (job, message) => {
      if (message !== 'waiting') return;
      const act = acts.get(job.id);
      acts.delete(job.id);
      if (act?.kind === 'cancel') {
        setTimeout(() => dispatcher.cancel(job.id, 'CancelRequest', 'cancelled by the user'), act.afterMs);
      } else if (act?.kind === 'metadata') {
        dispatcher.updateMetadata(job.id, act.metadata);
      } else if (act?.kind === 'loseLease') {
        // The job server stops accepting this job's renewals: the lease runs out and the job is abandoned.
        server.failRenewals(job.id);
      }
    },
  });

  for (const job of scenario) {
    server.add({
      id: job.id,
      job: `${jobsModule}#${job.job}`,
      message: job.message,
      ...(job.metadata && { metadata: job.metadata }),
    });
  }
  server.close();
  let interrupted: AgentRun['interrupted'];
  const stopOn = (signal: 'SIGINT' | 'SIGTERM') => () => {
    interrupted ??= signal;
    void dispatcher.shutdown('OperatingSystemShutdown', `the agent got ${signal}`);
  };
  const onInt = stopOn('SIGINT');
  const onTerm = stopOn('SIGTERM');
  process.once('SIGINT', onInt);
  process.once('SIGTERM', onTerm);
  try {
    await dispatcher.run();
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
  const leftBehind = [...pids.values()].filter((pid) => isPidAlive(pid));
  return { jobs: reports, leftBehind, ...(interrupted && { interrupted }) };
}
