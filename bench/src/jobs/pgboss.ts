// pg-boss 10 as the `jobs` suite runs it: one PgBoss instance per agent and one `work()` per slot
// (v10 has no concurrency option: a worker runs one fetched batch at a time), each polling at
// pg-boss's shortest interval, 0.5 s. pg-boss 10 has no LISTEN/NOTIFY: a worker waits its
// interval after every fetch unless told there is more (`notifyWorker`), so a worker that found a
// job is told so and fetches again at once, as a busy queue would want.

import pg from 'pg';
import PgBoss from 'pg-boss';
import { ledger } from './ledger.js';
import type { BenchQueue } from './queue.js';

const QUEUE = 'noop';
const options = (url: string, schema: string): PgBoss.ConstructorOptions => ({
  connectionString: url,
  schema,
  // No cron, no maintenance during a measurement: only the queue's own work.
  schedule: false,
  supervise: false,
});

export class PgBossQueue implements BenchQueue {
  readonly name = 'pg-boss';
  #adder: PgBoss | undefined;
  #agents: PgBoss[] = [];
  readonly #errors: Error[] = [];

  constructor(
    readonly url: string,
    readonly schema: string,
  ) {}

  async prepare(): Promise<void> {
    this.#adder = this.#boss();
    await this.#adder.start();
    await this.#adder.createQueue(QUEUE);
  }

  async add(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1_000) {
      await this.#adder!.insert(keys.slice(i, i + 1_000).map((key) => ({ name: QUEUE, data: { key } })));
    }
  }

  async start(agents: number, slots: number): Promise<void> {
    for (let i = 0; i < agents; i++) {
      const boss = this.#boss({ migrate: false });
      await boss.start();
      for (let slot = 0; slot < slots; slot++) {
        const worker: { id?: string } = {};
        worker.id = await boss.work<{ key: string }>(
          QUEUE,
          { batchSize: 1, pollingIntervalSeconds: 0.5 },
          async (jobs) => {
            for (const job of jobs) {
              ledger().started(job.data.key);
              ledger().ended(job.data.key);
            }
            if (worker.id) boss.notifyWorker(worker.id);
          },
        );
      }
      this.#agents.push(boss);
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.#agents.splice(0).map((boss) => boss.stop({ graceful: true, wait: true })));
    const errors = this.#errors.splice(0);
    if (errors.length > 0) throw new AggregateError(errors, `pg-boss reported ${errors.length} errors`);
  }

  async unfinished(): Promise<number> {
    const client = new pg.Client(this.url);
    await client.connect();
    try {
      const { rows } = await client.query<{ n: string }>(
        `select count(*) as n from "${this.schema}".job where name = $1 and state <> 'completed'`,
        [QUEUE],
      );
      return Number(rows[0]!.n);
    } finally {
      await client.end();
    }
  }

  async close(): Promise<void> {
    await this.#adder?.stop({ graceful: true, wait: true });
  }

  #boss(extra: PgBoss.ConstructorOptions = {}): PgBoss {
    const boss = new PgBoss({ ...options(this.url, this.schema), ...extra });
    boss.on('error', (error) => this.#errors.push(error));
    return boss;
  }
}
