/**
 * How a job ended. The names and numbers follow the Azure Pipelines agent's `TaskResult`, so a
 * reader who knows one knows the other.
 */
export const JobResult = {
  Succeeded: 'Succeeded',
  SucceededWithIssues: 'SucceededWithIssues',
  Failed: 'Failed',
  Canceled: 'Canceled',
  Skipped: 'Skipped',
  Abandoned: 'Abandoned',
} as const;
export type JobResult = (typeof JobResult)[keyof typeof JobResult];

/**
 * The worker's exit code for each result: the one table both sides read (docs/jobs.md). A worker
 * process says how its job ended only by how it exits, so a crash, a kill or an `exit(1)` from
 * inside a job is an exit code outside this table, and is reported as `Failed` with the worker's
 * captured output attached.
 */
export const JOB_EXIT_CODES: Readonly<Record<JobResult, number>> = Object.freeze({
  Succeeded: 100,
  SucceededWithIssues: 101,
  Failed: 102,
  Canceled: 103,
  Skipped: 104,
  Abandoned: 105,
});

const byCode = new Map<number, JobResult>(
  Object.entries(JOB_EXIT_CODES).map(([result, code]) => [code, result as JobResult]),
);

export function isJobResult(value: unknown): value is JobResult {
  return typeof value === 'string' && Object.hasOwn(JOB_EXIT_CODES, value);
}

/** The result an exit code stands for, or undefined for a code outside the table (a crash). */
export function resultForExitCode(code: number | null): JobResult | undefined {
  return code === null ? undefined : byCode.get(code);
}
