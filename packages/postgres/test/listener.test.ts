// The one listening connection of a source: when the database drops it, the source says so,
// connects again, and waiting takes go on being woken by NOTIFY.
import { migrate, PostgresJobSource } from '@troupe/postgres';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { usePrivatePostgres } from './support/server.js';

const postgres = usePrivatePostgres();
const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** The backend pids of the connections that LISTEN on a queue's channel. */
async function listeners(sql: pg.Client): Promise<number[]> {
  const { rows } = await sql.query<{ pid: number }>(
    "select pid from pg_stat_activity where query like 'listen %' and datname = current_database()",
  );
  return rows.map((row) => row.pid);
}

describe('the listening connection', () => {
  it('is connected again after the server drops it, and wakes waiting takes as before', async () => {
    const url = await postgres.database();
    await migrate(url);
    const sql = new pg.Client(url);
    await sql.connect();
    cleanup.push(() => sql.end());
    // A poll of ten minutes: within the test, only a notification wakes a take.
    const source = new PostgresJobSource({ database: url, pollMs: 600_000 });
    const adder = new PostgresJobSource({ database: url });
    cleanup.push(
      () => source.close(),
      () => adder.close(),
    );
    const warnings: Error[] = [];
    source.on('warning', (error) => warnings.push(error));

    const first = source.take();
    await adder.add({ id: 'before', job: 'file:///j.mjs#a' });
    expect(await first).toMatchObject({ id: 'before' });

    const [old] = await listeners(sql);
    expect(old).toEqual(expect.any(Number));
    const waiting = source.take();
    await sql.query('select pg_terminate_backend($1)', [old]);
    // Wait for the new listener (an event in the database, polled).
    let now: number[] = [];
    while (now.length === 0 || now.includes(old!)) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      now = await listeners(sql);
    }
    await adder.add({ id: 'after', job: 'file:///j.mjs#a' });
    expect(await waiting).toMatchObject({ id: 'after' });
    expect(warnings.map((error) => error.message)).toEqual([expect.stringMatching(/terminat/)]);
  });
});
