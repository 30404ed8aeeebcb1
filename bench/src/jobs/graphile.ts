// graphile-worker 0.17 as the `jobs` suite runs it: one runner per agent, `concurrency` = slots,
// its defaults otherwise (LISTEN/NOTIFY wake-ups, a 2 s poll behind them).
import { Logger, makeWorkerUtils, type Runner, run, type WorkerUtils } from 'graphile-worker';
import pg from 'pg';
import { ledger } from './ledger.js';
import type { BenchQueue } from './queue.js';

const TASK = 'noop';

export class GraphileQueue implements BenchQueue {
  readonly name = 'graphile-worker';
  #utils: WorkerUtils | undefined;
  #runners: Runner[] = [];

  constructor(
    readonly url: string,
    readonly schema: string,
  ) {}

  async prepare(): Promise<void> {
    this.#utils = await makeWorkerUtils({ connectionString: this.url, schema: this.schema, logger: quiet });
    await this.#utils.migrate();
  }

  async add(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1_000) {
      await this.#utils!.addJobs(
        keys.slice(i, i + 1_000).map((key) => ({ identifier: TASK, payload: { key } })),
      );
    }
  }

  async start(agents: number, slots: number): Promise<void> {
    for (let i = 0; i < agents; i++) {
      this.#runners.push(
        await run({
          connectionString: this.url,
          schema: this.schema,
          concurrency: slots,
          noHandleSignals: true,
          logger: quiet,
          taskList: {
            [TASK]: async (payload) => {
              const { key } = payload as { key: string };
              ledger().started(key);
              ledger().ended(key);
            },
          },
        }),
      );
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.#runners.splice(0).map((runner) => runner.stop()));
  }

  async unfinished(): Promise<number> {
    // graphile-worker deletes a job once it succeeded: what is left did not.
    const client = new pg.Client(this.url);
    await client.connect();
    try {
      const { rows } = await client.query<{ n: string }>(
        `select count(*) as n from "${this.schema}"._private_jobs`,
      );
      return Number(rows[0]!.n);
    } finally {
      await client.end();
    }
  }

  async close(): Promise<void> {
    await this.#utils?.release();
  }
}

/** Its info lines would drown the table; its warnings and errors still show. */
const quiet = new Logger((scope) => (level, message) => {
  if (['warning', 'error'].includes(String(level)))
    console.error(`graphile-worker ${scope.label ?? ''}: ${message}`);
});
