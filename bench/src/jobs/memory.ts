// The same agents as troupe.ts (JobDispatcher, warm in-process workers) on core's MemoryJobServer: no
// database at all. What the PostgreSQL queue is measured against to tell its share of a job's
// time from the dispatcher's.
import { JobDispatcher, MemoryJobServer } from '@troupe/core';
import { WarmJobWorkers } from '@troupe/core/internal';
import type { BenchQueue } from './queue.js';
import { idle, noopJob } from './troupe.js';

export class MemoryQueue implements BenchQueue {
  readonly name = 'troupe-memory';
  readonly #server = new MemoryJobServer({ leaseMs: 5 * 60_000 });
  #agents: Array<{ dispatcher: JobDispatcher; running: Promise<void>; errors: Error[] }> = [];

  async prepare(): Promise<void> {}

  async add(keys: readonly string[]): Promise<void> {
    for (const key of keys) this.#server.add({ id: key, job: noopJob, message: key });
  }

  async start(agents: number, slots: number): Promise<void> {
    for (let i = 0; i < agents; i++) {
      const dispatcher = new JobDispatcher({
        source: this.#server,
        workers: new WarmJobWorkers(),
        slots,
        trace: false,
      });
      const errors: Error[] = [];
      dispatcher.on('jobError', (_job, error) => errors.push(error));
      const running = dispatcher.run().catch((error: unknown) => {
        errors.push(error as Error);
      });
      this.#agents.push({ dispatcher, running, errors });
    }
  }

  async stop(): Promise<void> {
    const agents = this.#agents.splice(0);
    await Promise.all(
      agents.map(async ({ dispatcher, running }) => {
        await idle(dispatcher);
        await dispatcher.shutdown();
        await running;
      }),
    );
    const errors = agents.flatMap((agent) => agent.errors);
    if (errors.length > 0)
      throw new AggregateError(errors, `the memory agents reported ${errors.length} errors`);
  }

  async unfinished(): Promise<number> {
    return this.#server
      .list()
      .filter((job) => job.completion?.result !== 'Succeeded' || job.extraCompletions.length > 0).length;
  }

  async close(): Promise<void> {
    this.#server.close();
  }
}
