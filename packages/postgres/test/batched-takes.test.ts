// Takes asked for at once (a dispatcher's free slots, woken by one NOTIFY) go to the database as
// one query.
import { migrate, PostgresJobSource, type PostgresJobSourceOptions } from '@troupe/postgres';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { usePrivatePostgres } from './support/server.js';

const postgres = usePrivatePostgres();
const opened: Array<{ close(): Promise<unknown> }> = [];
afterEach(async () => {
  for (const thing of opened.splice(0).reverse()) await thing.close();
});

async function queue() {
  const url = await postgres.database();
  await migrate(url);
  const sql = new pg.Client(url);
  await sql.connect();
  opened.push({ close: () => sql.end() });
  const agent = (options: Partial<PostgresJobSourceOptions> = {}) => {
    const source = new PostgresJobSource({ database: url, ...options });
    opened.push(source);
    return source;
  };
  const rows = async () =>
    (
      await sql.query(
        `select id, state, agent, fence::text as fence, attempts, renewals,
                taken_at::text as "takenAt", lease_expires_at::text as "expiresAt"
           from troupe_jobs.jobs order by seq`,
      )
    ).rows;
  return { agent, rows };
}

const job = 'file:///jobs.mjs#run';

describe('PostgresJobSource, batched takes', () => {
  it('takes asked for at once are one query, by priority then age; the one left over waits for the next add', async () => {
    const { agent, rows } = await queue();
    const adder = agent({ agent: 'adder' });
    const source = agent({ agent: 'slots' });
    await adder.add({ id: 'old', job });
    await adder.add({ id: 'young', job });
    await adder.add({ id: 'urgent', job, priority: 5 });
    const takes = [source.take(), source.take(), source.take(), source.take()];
    const first = await Promise.all(takes.slice(0, 3));
    // The askers are served in the order they asked, the best job first.
    expect(first.map((taken) => [taken!.id, taken!.lease])).toEqual([
      ['urgent', '1'],
      ['old', '1'],
      ['young', '1'],
    ]);
    const table = await rows();
    expect(table.map((row) => [row.id, row.state, row.agent, row.attempts])).toEqual([
      ['old', 'leased', 'slots', 1],
      ['young', 'leased', 'slots', 1],
      ['urgent', 'leased', 'slots', 1],
    ]);
    // One statement took all three: they share its transaction's now().
    expect(new Set(table.map((row) => row.takenAt)).size).toBe(1);
    await adder.add({ id: 'late', job });
    expect(await takes[3]).toMatchObject({ id: 'late', lease: '1' });
  });
});
