import {
  type DashboardOptions,
  type JobCompletedEvent,
  JobDispatcher,
  type JobRequest,
  MemoryJobServer,
  type PacketBodies,
  ProcessJobWorkers,
} from '@troupe/core';
import { isPidAlive } from '@troupe/core/internal';

const jobsModule = new URL('./jobs.js', import.meta.url).href;

/** One line of the agent's report: how a job ended. */
export interface JobReport {
  id: string;
  job: string;
  /** `Succeeded`, `SucceededWithIssues`, `Failed`, `Canceled`, `Skipped`, `Abandoned`, or `None`
   * when the job ended without a result (its message never reached a worker). */
  result: string;
  reason?: string;
  exitCode?: number | null;
  signal?: string | null;
  pid?: number;
  /** From taking the job to its result. */
  ms: number;
  /** The worker's captured stdout and stderr, for a worker that crashed. */
  output?: string;
}

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
  /** Serves the dispatcher's live view (docs/dashboard.md) for the run; its address goes to `onDashboard`. */
  dashboard?: DashboardOptions;
  onDashboard?: (url: string) => void;
}

export interface AgentRun {
  jobs: JobReport[];
  /** Worker processes still alive after the run (must be empty). */
  leftBehind: number[];
  /** The signal that stopped the run before its jobs were done, if one did. */
  interrupted?: 'SIGINT' | 'SIGTERM';
}

/** What each job of the scenario is, and what the agent does to it once it runs. */
const scenario: Array<{
  id: string;
  job: string;
  message?: unknown;
  metadata?: Record<string, unknown>;
  act?: (dispatcher: JobDispatcher, server: MemoryJobServer, id: string) => void;
}> = [
  { id: 'compile-app', job: 'compile', message: { projects: 5 } },
  {
    id: 'cancelled-mid-run',
    job: 'longTask',
    act: (dispatcher, _server, id) =>
      setTimeout(() => dispatcher.cancel(id, 'CancelRequest', 'cancelled by the user'), 100),
  },
  {
    id: 'ignores-cancel',
    job: 'stubborn',
    act: (dispatcher, _server, id) => dispatcher.cancel(id, 'CancelRequest', 'cancelled by the user'),
  },
  { id: 'crashes', job: 'crash' },
  {
    id: 'lease-lost',
    job: 'longTask',
    // The job server stops accepting this job's renewals: the lease runs out and the job is abandoned.
    act: (_dispatcher, server, id) => server.failRenewals(id),
  },
  {
    id: 'metadata-update',
    job: 'deploy',
    metadata: { target: 'staging' },
    act: (dispatcher, _server, id) => dispatcher.updateMetadata(id, { target: 'production' }),
  },
  { id: 'compile-tests', job: 'compile', message: { projects: 3 } },
];

/**
 * Runs the scenario's jobs from an embedded job server through a job dispatcher, each in a fresh
 * worker process, and reports how each ended and whether any worker process is left.
 */
export async function runAgent(options: AgentOptions = {}): Promise<AgentRun> {
  const server = new MemoryJobServer({ leaseMs: options.leaseMs ?? 1_500 });
  const workers = new ProcessJobWorkers();
  const dispatcher = new JobDispatcher({
    source: server,
    workers,
    slots: options.slots ?? 3,
    cancelTimeoutMs: options.cancelTimeoutMs ?? 1_000,
    channelTimeoutMs: 10_000,
    lease: { renewIntervalMs: 300, retryStartMs: 100, retryMaxMs: 400 },
  });
  const say = options.onEvent ?? (() => {});
  const taken = new Map<string, number>();
  const pids = new Map<string, number>();
  const acts = new Map(scenario.map((s) => [s.id, s.act]));
  const reports: JobReport[] = [];

  dispatcher.on('state', (slot, state, jobId) => {
    if (state === 'awaitingPrevious' && jobId) taken.set(jobId, performance.now());
    if (jobId) say(`slot ${slot} ${jobId}: ${JSON.stringify(state)}`);
  });
  dispatcher.on('started', ({ job, pid }) => {
    if (pid !== undefined) pids.set(job.id, pid);
    say(`started ${job.id} in worker pid ${pid}`);
  });
  dispatcher.on('log', (job: JobRequest, body: PacketBodies['Log']) => {
    say(`${job.id} | ${body.message}`);
    if (body.message === 'waiting') {
      const act = acts.get(job.id);
      acts.delete(job.id);
      act?.(dispatcher, server, job.id);
    }
  });
  dispatcher.on('jobError', (job, error) => say(`${job.id} error: ${error.message}`));
  dispatcher.on('completed', (event: JobCompletedEvent) => {
    const completion = event.completion;
    const pid = pids.get(event.job.id);
    const report: JobReport = {
      id: event.job.id,
      job: event.job.job.slice(event.job.job.lastIndexOf('#') + 1),
      result: completion?.result ?? 'None',
      ...((completion?.reason ?? event.reason) !== undefined && {
        reason: completion?.reason ?? event.reason,
      }),
      ...(completion?.exit && { exitCode: completion.exit.code, signal: completion.exit.signal }),
      ...(pid !== undefined && { pid }),
      ms: Math.round(performance.now() - (taken.get(event.job.id) ?? performance.now())),
      ...(completion?.output !== undefined && { output: completion.output }),
    };
    reports.push(report);
    options.onJob?.(report);
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
    if (options.dashboard) options.onDashboard?.((await dispatcher.serveDashboard(options.dashboard)).url);
    await dispatcher.run();
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
  const leftBehind = [...pids.values()].filter((pid) => isPidAlive(pid));
  return { jobs: reports, leftBehind, ...(interrupted && { interrupted }) };
}
