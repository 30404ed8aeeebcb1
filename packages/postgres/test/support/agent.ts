// An agent for the tests: a PostgresJobSource on the queue and a JobDispatcher on it with
// in-process workers, recording what it announces; stopped by the test file's cleanup.
import { type JobCompletedEvent, JobDispatcher, type JobDispatcherOptions } from '@troupe/core';
import { InProcessJobWorkers } from '@troupe/core/internal';
import { PostgresJobSource, type PostgresJobSourceOptions } from '@troupe/postgres';

/** An agent: a source on the queue and a dispatcher on it, recording what it announces. */
export function startAgent(cleanup: Array<() => Promise<void>>) {
  return function agent(
    url: string,
    source: Partial<PostgresJobSourceOptions>,
    options: Partial<JobDispatcherOptions> = {},
  ) {
    const jobsSource = new PostgresJobSource({ database: url, ...source });
    const dispatcher = new JobDispatcher({
      source: jobsSource,
      workers: new InProcessJobWorkers(),
      cancelTimeoutMs: 2_000,
      ...options,
    });
    const completed: JobCompletedEvent[] = [];
    const errors: Error[] = [];
    const logs: string[] = [];
    const waiters: Array<() => void> = [];
    const wakeAll = () => {
      for (const wake of waiters.splice(0)) wake();
    };
    dispatcher.on('completed', (event) => {
      completed.push(event);
      wakeAll();
    });
    dispatcher.on('jobError', (_job, error) => errors.push(error));
    dispatcher.on('log', (job, body) => {
      logs.push(`${job.id}: ${body.message}`);
      wakeAll();
    });
    const running = dispatcher.run().catch((error: unknown) => errors.push(error as Error));
    cleanup.push(async () => {
      await dispatcher.shutdown();
      await jobsSource.close();
      await running;
    });
    /** Resolves once `ready()` holds, checked after each announcement. */
    const until = async (ready: () => boolean) => {
      while (!ready()) await new Promise<void>((resolve) => waiters.push(resolve));
    };
    /** Resolves once `n` jobs have completed here. */
    const completions = async (n: number) => {
      await until(() => completed.length >= n);
      return completed;
    };
    return { source: jobsSource, dispatcher, completed, errors, logs, until, completions };
  };
}
