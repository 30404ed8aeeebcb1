// Two savings of PostgresJobSource on a job's way to a worker: takes asked for at once (a
// dispatcher's free slots, woken by one NOTIFY) go to the database as one query, and the first
// renewal right after a take is answered by the take's own lease, without a round trip.
import { migrate, PostgresJobSource, type PostgresJobSourceOptions } from '@troupe/postgres';
import { VirtualClock } from '@troupe/testing';
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

describe('PostgresJobSource, batched takes and the first renewal', () => {
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

  it("the first renewal after a take is the take's lease; later ones, and a late first one, go to the database", async () => {
    const { agent, rows } = await queue();
    const clock = new VirtualClock(1_000);
    const source = agent({ leaseMs: 60_000, clock });
    await source.add({ id: 'a', job });
    await source.add({ id: 'b', job });
    const a = (await source.take())!;
    const before = (await rows())[0]!;
    // Reported from when the take was asked for, on the agent's clock; the table is untouched.
    await expect(source.renew(a)).resolves.toEqual({ expiresAt: 61_000 });
    expect((await rows())[0]).toEqual(before);
    await expect(source.renew(a)).resolves.toEqual({ expiresAt: 61_000 });
    expect((await rows())[0]).toMatchObject({ id: 'a', renewals: 1 });
    // Half the lease gone on the agent's clock since the take: the first renewal asks the database.
    const b = (await source.take())!;
    clock.advance(30_000);
    await expect(source.renew(b)).resolves.toEqual({ expiresAt: 91_000 });
    expect((await rows())[1]).toMatchObject({ id: 'b', renewals: 1 });
  });
});
