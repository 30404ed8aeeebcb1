// The demo's jobs, one for each thing that can happen to a job, and what the agent does to each
// once it runs (it logs "waiting"). Memory mode acts on its embedded server; database mode acts
// through the database (a cancel, a metadata update) or on the agent that holds the job.

/** What is done to a running job. */
export type Act =
  | { kind: 'cancel'; afterMs: number }
  /** The job's source refuses its lease from now on. */
  | { kind: 'loseLease' }
  | { kind: 'metadata'; metadata: Record<string, unknown> };

export interface ScenarioJob {
  id: string;
  /** An export of jobs.ts. */
  job: string;
  message?: unknown;
  metadata?: Record<string, unknown>;
  act?: Act;
  /** The result the job must end with. */
  expected: string;
}

export const scenario: readonly ScenarioJob[] = [
  { id: 'compile-app', job: 'compile', message: { projects: 5 }, expected: 'Succeeded' },
  { id: 'cancelled-mid-run', job: 'longTask', act: { kind: 'cancel', afterMs: 100 }, expected: 'Canceled' },
  { id: 'ignores-cancel', job: 'stubborn', act: { kind: 'cancel', afterMs: 0 }, expected: 'Canceled' },
  { id: 'crashes', job: 'crash', expected: 'Failed' },
  { id: 'lease-lost', job: 'longTask', act: { kind: 'loseLease' }, expected: 'Abandoned' },
  {
    id: 'metadata-update',
    job: 'deploy',
    metadata: { target: 'staging' },
    act: { kind: 'metadata', metadata: { target: 'production' } },
    expected: 'SucceededWithIssues',
  },
  { id: 'compile-tests', job: 'compile', message: { projects: 3 }, expected: 'Succeeded' },
];

/** The job's code as a worker imports it: this package's compiled jobs module. */
export const jobsModule = new URL('./jobs.js', import.meta.url).href;
