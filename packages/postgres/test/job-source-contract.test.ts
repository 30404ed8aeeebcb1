// The JobSource contract (test/support/job-source-contract.ts) run against PostgresJobSource on a
// private PostgreSQL server: a fresh database per test, leases timed by the server's clock.
import { migrate, PostgresJobSource } from '@troupe/postgres';
import pg from 'pg';
import { describeJobSourceContract } from '../../../test/support/job-source-contract.js';
import { usePrivatePostgres } from './support/server.js';

const postgres = usePrivatePostgres();

describeJobSourceContract(
  'PostgresJobSource',
  async ({ leaseMs }) => {
    const url = await postgres.database();
    await migrate(url);
    const source = new PostgresJobSource({ database: url, leaseMs });
    // The test's own connection, to see what the table holds.
    const client = new pg.Client(url);
    await client.connect();
    return {
      source,
      add: async (job) => {
        await source.add(job);
      },
      recorded: async (id) => (await source.get(id))?.completion ?? undefined,
      expire: async (job) => {
        // Waits for the server's clock to pass the lease's end: an event, polled, not a sleep.
        for (;;) {
          const { rows } = await client.query<{ over: boolean }>(
            'select lease_expires_at <= now() as over from troupe_jobs.jobs where id = $1 and fence = $2',
            [job.id, job.lease],
          );
          if (rows[0]?.over !== false) return;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      },
      close: async () => {
        await client.end();
        await source.close();
      },
    };
  },
  { retakesExpiredLeases: true, fencesCompletion: true },
);
