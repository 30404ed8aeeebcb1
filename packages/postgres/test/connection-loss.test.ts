// A source whose connections the database cuts: a take whose query is cut retries with back-off
// and takes the job when the database answers again; the cut is reported as a warning, not thrown.
import { migrate, PostgresJobSource } from '@troupe/postgres';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { usePrivatePostgres } from './support/server.js';

const postgres = usePrivatePostgres();
const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client(url);
  await client.connect();
  cleanup.push(() => client.end());
  return client;
}

/** The backend pid of a query waiting on a lock whose text contains `text` (polled until there is one). */
async function waitingQuery(watcher: pg.Client, text: string): Promise<number> {
  for (;;) {
    const { rows } = await watcher.query<{ pid: number }>(
      "select pid from pg_stat_activity where wait_event_type = 'Lock' and position($1 in query) > 0",
      [text],
    );
    if (rows[0]) return rows[0].pid;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('connection loss', () => {
  it('a take whose query the database cuts retries, and takes the job once it can', async () => {
    const url = await postgres.database();
    await migrate(url);
    const source = new PostgresJobSource({ database: url });
    cleanup.push(() => source.close());
    const warnings: Error[] = [];
    source.on('warning', (error) => warnings.push(error));
    await source.add({ id: 'a', job: 'file:///j.mjs#a', message: 'still here' });
    // Hold the table so the take's query waits, then cut that query's connection.
    const holder = await connect(url);
    const watcher = await connect(url);
    await holder.query('begin');
    await holder.query('lock table troupe_jobs.jobs in access exclusive mode');
    const taking = source.take();
    const pid = await waitingQuery(watcher, 'skip locked');
    await watcher.query('select pg_terminate_backend($1)', [pid]);
    // The retry waits on the lock again, on a new connection.
    while ((await waitingQuery(watcher, 'skip locked')) === pid);
    await holder.query('commit');
    expect(await taking).toMatchObject({ id: 'a', message: 'still here', lease: '1' });
    expect(warnings.map((error) => (error as { code?: string }).code)).toContain('57P01');
    expect(await source.get('a')).toMatchObject({ state: 'leased', attempts: 1 });
  });
});
