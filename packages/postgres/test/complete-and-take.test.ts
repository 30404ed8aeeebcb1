// Round trips PostgresJobSource saves while a dispatcher takes: a completion takes the slot's next
// job in the same statement (complete-and-take), and renewals asked for at once are one statement.
// Each keeps the fence: a token that is not the job's newest completes or renews nothing, whatever
// else its statement does.
import { JobAlreadyCompletedError, LeaseLostError } from '@troupe/core';
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

interface Row {
  id: string;
  state: string;
  agent: string | null;
  fence: string;
  attempts: number;
  renewals: number;
  result: string | null;
  takenAt: string | null;
  finishedAt: string | null;
  expiresAt: string | null;
}

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
  const rows = async (): Promise<Record<string, Row>> => {
    const { rows } = await sql.query<Row>(
      `select id, state, agent, fence::text as fence, attempts, renewals, result,
              taken_at::text as "takenAt", finished_at::text as "finishedAt",
              lease_expires_at::text as "expiresAt"
         from troupe_jobs.jobs order by seq`,
    );
    return Object.fromEntries(rows.map((row) => [row.id, row]));
  };
  /** Runs the lease of `id` out, on the database's clock. */
  const expire = (id: string) =>
    sql.query("update troupe_jobs.jobs set lease_expires_at = now() - interval '1 second' where id = $1", [
      id,
    ]);
  return { agent, rows, expire };
}

const job = 'file:///jobs.mjs#run';
const succeeded = { result: 'Succeeded' } as const;

describe('PostgresJobSource, complete-and-take', () => {
  it('a completion takes the next job in its own statement, and the next take hands it out', async () => {
    const { agent, rows } = await queue();
    const source = agent({ agent: 'a' });
    await source.add({ id: 'first', job, message: 1 });
    await source.add({ id: 'second', job, message: 2 });
    const first = (await source.take())!;
    expect(first).toMatchObject({ id: 'first', lease: '1' });
    await source.complete(first, succeeded);
    const table = await rows();
    expect(table.first).toMatchObject({ state: 'completed', result: 'Succeeded' });
    // Leased before any take asked for it, by the completion's transaction (the same now()).
    expect(table.second).toMatchObject({ state: 'leased', agent: 'a', fence: '1', attempts: 1 });
    expect(table.second!.takenAt).toBe(table.first!.finishedAt);
    const second = await source.take();
    expect(second).toEqual({ id: 'second', job, message: 2, lease: '1' });
    // The take's lease is its first renewal, as for any take: nothing is written.
    await source.renew(second!);
    expect((await rows()).second!.renewals).toBe(0);
  });

  it('a completion from a lost lease applies nothing, while its statement still takes for the free slot', async () => {
    const { agent, rows, expire } = await queue();
    const zombie = agent({ agent: 'zombie' });
    const other = agent({ agent: 'other' });
    await zombie.add({ id: 'contested', job });
    const stale = (await zombie.take())!;
    await expire('contested');
    const current = (await other.take())!;
    expect(current).toMatchObject({ id: 'contested', lease: '2' });
    await zombie.add({ id: 'next', job });
    await expect(zombie.complete(stale, { result: 'Failed', reason: 'late' })).rejects.toBeInstanceOf(
      LeaseLostError,
    );
    const table = await rows();
    // The current holder's lease is untouched: no result, still leased, its token.
    expect(table.contested).toMatchObject({ state: 'leased', agent: 'other', fence: '2', result: null });
    expect(table.next).toMatchObject({ state: 'leased', agent: 'zombie', fence: '1' });
    expect(await zombie.take()).toMatchObject({ id: 'next', lease: '1' });
    // The one result is the current holder's.
    await other.complete(current, succeeded);
    expect((await rows()).contested).toMatchObject({ state: 'completed', result: 'Succeeded', fence: '2' });
  });

  it('the job being completed is not taken again by its own statement, though its lease ran out', async () => {
    const { agent, rows, expire } = await queue();
    const source = agent({ agent: 'a' });
    await source.add({ id: 'late', job });
    const late = (await source.take())!;
    // Nobody took it since: the holder's token is still the newest, and its completion counts.
    await expire('late');
    await source.complete(late, succeeded);
    expect((await rows()).late).toMatchObject({ state: 'completed', fence: '1', attempts: 1 });
  });

  it('a job taken for a take that never comes goes back to the queue, uncounted: after the poll, or at close', async () => {
    const { agent, rows } = await queue();
    const clock = new VirtualClock(0);
    const source = agent({ agent: 'a', clock, pollMs: 5_000 });
    for (const id of ['one', 'two', 'three']) await source.add({ id, job });
    await source.complete((await source.take())!, succeeded);
    expect((await rows()).two).toMatchObject({ state: 'leased', agent: 'a' });
    clock.advance(5_000);
    await expect.poll(async () => (await rows()).two?.state).toBe('queued');
    expect((await rows()).two).toMatchObject({ agent: null, attempts: 0, fence: '1' });
    // Taken again, it carries a new token.
    const two = (await source.take())!;
    expect(two).toMatchObject({ id: 'two', lease: '2' });
    await source.complete(two, succeeded);
    expect((await rows()).three).toMatchObject({ state: 'leased', agent: 'a' });
    await source.close();
    expect((await rows()).three).toMatchObject({ state: 'queued', agent: null, attempts: 0 });
  });

  it('nothing is taken for a dispatcher that stops (its take signal aborted), nor by a source nobody takes from', async () => {
    const { agent, rows } = await queue();
    const adder = agent({ agent: 'adder' });
    const stopping = agent({ agent: 'stopping' });
    await adder.add({ id: 'running', job });
    await adder.add({ id: 'waiting', job });
    const stop = new AbortController();
    const running = (await stopping.take(stop.signal))!;
    stop.abort(new Error('the agent is shutting down'));
    await stopping.complete(running, { result: 'Canceled', reason: 'shutting down' });
    expect((await rows()).waiting).toMatchObject({ state: 'queued', fence: '0' });
    // A source that only completes (it never took: jobs dispatched from elsewhere) takes nothing.
    const reporter = agent({ agent: 'reporter' });
    const waiting = (await adder.take())!;
    await reporter.complete(waiting, succeeded);
    expect((await rows()).waiting).toMatchObject({ state: 'completed', agent: 'adder' });
  });
});

describe('PostgresJobSource, completions at once', () => {
  it('are one statement, which takes as many jobs; a job reported twice at once records the first', async () => {
    const { agent, rows } = await queue();
    const source = agent({ agent: 'a' });
    for (const id of ['p', 'q', 'r', 's', 't']) await source.add({ id, job });
    const [p, q] = await Promise.all([source.take(), source.take()]);
    await Promise.all([
      source.complete(p!, succeeded),
      source.complete(q!, { result: 'Failed', reason: 'boom' }),
      expect(source.complete(q!, succeeded)).rejects.toBeInstanceOf(JobAlreadyCompletedError),
    ]);
    const table = await rows();
    expect([table.p!.result, table.q!.result]).toEqual(['Succeeded', 'Failed']);
    expect(table.p!.finishedAt).toBe(table.q!.finishedAt);
    // Three completions asked for at once: three jobs taken for the takes that follow.
    expect([table.r!.state, table.s!.state, table.t!.state]).toEqual(['leased', 'leased', 'leased']);
    expect(table.r!.takenAt).toBe(table.p!.finishedAt);
  });
});

describe('PostgresJobSource, renewals at once', () => {
  it('are one statement; a stale token among them renews nothing and is refused alone', async () => {
    const { agent, rows, expire } = await queue();
    const clock = new VirtualClock(0);
    const source = agent({ agent: 'a', clock, leaseMs: 60_000 });
    const thief = agent({ agent: 'thief' });
    for (const id of ['x', 'y', 'z']) await source.add({ id, job });
    const [x, y, z] = await Promise.all([source.take(), source.take(), source.take()]);
    await expire('z');
    await thief.take();
    // Past half the lease on the agent's clock: every renewal goes to the database.
    clock.advance(40_000);
    const renewals = await Promise.allSettled([source.renew(x!), source.renew(y!), source.renew(z!)]);
    expect(renewals.map((outcome) => outcome.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
    expect((renewals[2] as PromiseRejectedResult).reason).toBeInstanceOf(LeaseLostError);
    const table = await rows();
    expect([table.x!.renewals, table.y!.renewals, table.z!.renewals]).toEqual([1, 1, 0]);
    // One statement renewed both: its transaction's now() is in both.
    expect(table.x!.expiresAt).toBe(table.y!.expiresAt);
    expect(table.z).toMatchObject({ agent: 'thief', fence: '2' });
  });
});
