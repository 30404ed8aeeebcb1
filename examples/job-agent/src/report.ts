// How the agent reports a job: one line per job as it ends, built from its dispatcher's events.
// Memory mode and each database-mode agent process use the same watcher.
import type { JobCompletedEvent, JobDispatcher, JobRequest, PacketBodies } from '@troupe/core';

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
  /** Database mode: the agent process that ran it. */
  agent?: string;
}

export interface DispatcherWatch {
  /** Each job as it ends. */
  onJob: (report: JobReport) => void;
  /** A job's log line. */
  onLog?: (job: JobRequest, message: string) => void;
  /** Progress: a worker started, a log line, a state, an error. */
  onEvent?: (line: string) => void;
}

/** Follows a dispatcher's events; returns the pids of the workers it saw start. */
export function watchDispatcher(dispatcher: JobDispatcher, watch: DispatcherWatch): Map<string, number> {
  const say = watch.onEvent ?? (() => {});
  const taken = new Map<string, number>();
  const pids = new Map<string, number>();
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
    watch.onLog?.(job, body.message);
  });
  dispatcher.on('jobError', (job, error) => say(`${job.id} error: ${error.message}`));
  dispatcher.on('completed', (event: JobCompletedEvent) => {
    const completion = event.completion;
    const pid = pids.get(event.job.id);
    watch.onJob({
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
    });
  });
  return pids;
}
