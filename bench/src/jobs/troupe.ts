// troupe as the `jobs` suite runs it: agents of PostgresJobSource + JobDispatcher with warm in-process
// workers, each agent its own source (its own pool and listening connection).
import { JobDispatcher } from '@troupe/core';
import { WarmJobWorkers } from '@troupe/core/internal';
import { migrate, PostgresJobSource } from '@troupe/postgres';
import pg from 'pg';
import type { BenchQueue } from './queue.js';

export const noopJob = `${new URL('../../workers/jobs.mjs', import.meta.url).href}#noopJob`;

interface Agent {
  source: PostgresJobSource;
  dispatcher: JobDispatcher;
  running: Promise<void>;
  errors: Error[];
}

export class TroupeQueue implements BenchQueue {
  readonly name = 'troupe';
  #adder: PostgresJobSource | undefined;
  #agents: Agent[] = [];

  constructor(
    readonly url: string,
    readonly schema: string,
  ) {}

  async prepare(): Promise<void> {
    await migrate(this.url, { schema: this.schema });
    this.#adder = new PostgresJobSource({ database: this.url, schema: this.schema, agent: 'bench-adder' });
  }

  async add(keys: readonly string[]): Promise<void> {
    const adder = this.#adder!;
    // As many at once as the adder's pool has connections.
    for (let i = 0; i < keys.length; i += 4) {
      await Promise.all(
        keys.slice(i, i + 4).map((key) => adder.add({ id: key, job: noopJob, message: key })),
      );
    }
  }

  async start(agents: number, slots: number): Promise<void> {
    for (let i = 0; i < agents; i++) {
      const source = new PostgresJobSource({ database: this.url, schema: this.schema, agent: `bench-${i}` });
      const dispatcher = new JobDispatcher({
        source,
        workers: new WarmJobWorkers(),
        slots,
        trace: false,
      });
      const errors: Error[] = [];
      dispatcher.on('jobError', (_job, error) => errors.push(error));
      source.on('warning', (error) => errors.push(error));
      const running = dispatcher.run().catch((error: unknown) => {
        errors.push(error as Error);
      });
      this.#agents.push({ source, dispatcher, running, errors });
    }
  }

  async stop(): Promise<void> {
    const agents = this.#agents.splice(0);
    await Promise.all(
      agents.map(async ({ source, dispatcher, running }) => {
        // A job whose code has returned is still running until its worker's exit is reported:
        // shutting down now would cancel it. The queue is empty by now, so every slot goes idle.
        await idle(dispatcher);
        await dispatcher.shutdown();
        await source.close();
        await running;
      }),
    );
    const errors = agents.flatMap((agent) => agent.errors);
    if (errors.length > 0)
      throw new AggregateError(errors, `troupe's agents reported ${errors.length} errors`);
  }

  async unfinished(): Promise<number> {
    const client = new pg.Client(this.url);
    await client.connect();
    try {
      const { rows } = await client.query<{ n: string }>(
        `select count(*) as n from "${this.schema}".jobs
          where state <> 'completed' or result <> 'Succeeded' or attempts <> 1`,
      );
      return Number(rows[0]!.n);
    } finally {
      await client.end();
    }
  }

  async close(): Promise<void> {
    await this.#adder?.close();
  }
}

/** Resolves once every slot of `dispatcher` is idle (waiting for a job). */
export function idle(dispatcher: JobDispatcher): Promise<void> {
  const done = () => dispatcher.states.every((state) => state === 'idle');
  if (done()) return Promise.resolve();
  return new Promise((resolve) => {
    const onState = () => {
      if (!done()) return;
      dispatcher.off('state', onState);
      resolve();
    };
    dispatcher.on('state', onState);
  });
}
