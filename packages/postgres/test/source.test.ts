// PostgresJobSource beyond the JobSource contract: what many agents sharing one table see. Each
// test has its own database on the file's private server; the table is read back to check values.
import { InvalidOptionError, LeaseLostError, UnknownJobError } from '@troupe/core';
import {
  JobSourceClosedError,
  migrate,
  PostgresJobSource,
  type PostgresJobSourceOptions,
  QueueNotMigratedError,
} from '@troupe/postgres';
import { VirtualClock } from '@troupe/testing';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { usePrivatePostgres } from './support/server.js';

const postgres = usePrivatePostgres();
const opened: Array<{ close(): Promise<void> | Promise<unknown> }> = [];
afterEach(async () => {
  for (const thing of opened.splice(0).reverse()) await thing.close();
});

/** A migrated database, the test's own connection to it, and a way to open agents' sources on it. */
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
  /** Waits until the server's clock has passed the job's lease end (polled: an event, not a sleep). */
  const expired = async (id: string) => {
    for (;;) {
      const { rows } = await sql.query(
        'select lease_expires_at <= now() as over from troupe_jobs.jobs where id = $1',
        [id],
      );
      if (rows[0]?.over !== false) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  return { url, sql, agent, expired };
}

/** Waits until the clock has a timer armed: a take is waiting on it. */
async function waitingOn(clock: VirtualClock): Promise<void> {
  while (clock.pending === 0) await new Promise((resolve) => setTimeout(resolve, 5));
}

const job = 'file:///jobs.mjs#run';

describe('PostgresJobSource', () => {
  it('takes by priority, higher first, then by age', async () => {
    const { agent } = await queue();
    const source = agent();
    for (const [id, priority] of [
      ['a', 0],
      ['b', 5],
      ['c', 0],
      ['d', 5],
      ['e', -1],
    ] as const)
      await source.add({ id, job, priority });
    const taken: string[] = [];
    for (let i = 0; i < 5; i++) taken.push((await source.take())!.id);
    expect(taken).toEqual(['b', 'd', 'a', 'c', 'e']);
  });

  it('agents taking at once get different jobs, and each job records the agent that holds it', async () => {
    const { agent } = await queue();
    const one = agent({ agent: 'agent-one' });
    const two = agent({ agent: 'agent-two' });
    for (let i = 0; i < 10; i++) await one.add({ id: `job-${i}`, job });
    const takes = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? one : two).take()));
    expect(takes.map((taken) => taken!.id).sort()).toEqual(
      Array.from({ length: 10 }, (_, i) => `job-${i}`).sort(),
    );
    for (const [i, taken] of takes.entries()) {
      const row = await one.get(taken!.id);
      expect(row).toMatchObject({ state: 'leased', agent: i % 2 ? 'agent-one' : 'agent-two', attempts: 1 });
      expect(row!.fence).toBe(taken!.lease);
    }
  });

  it('each take raises the fencing token and counts an attempt; the lease ends on the database clock', async () => {
    const { agent, sql, expired } = await queue();
    // An agent whose clock is far off: it must not matter to when the lease ends.
    const skewed = new VirtualClock(1e12);
    const first = agent({ agent: 'first', leaseMs: 300, clock: skewed });
    const second = agent({ agent: 'second', leaseMs: 60_000 });
    await first.add({ id: 'a', job });
    const one = (await first.take())!;
    // The lease ends 300 ms after the take, both read from the database's now(), which is today's
    // date (the agent's clock reads 2001).
    const { rows } = await sql.query<{ ms: number; today: boolean }>(
      `select (extract(epoch from lease_expires_at - taken_at) * 1000)::float8 as ms,
              abs(extract(epoch from taken_at - now())) < 600 as today
         from troupe_jobs.jobs where id = 'a'`,
    );
    expect(rows).toEqual([{ ms: 300, today: true }]);
    // Renewal reports the end on the agent's own clock, counted from before it asked.
    await expect(first.renew(one)).resolves.toEqual({ expiresAt: 1e12 + 300 });
    await expired('a');
    const two = (await second.take())!;
    expect([one.lease, two.lease]).toEqual(['1', '2']);
    expect(await second.get('a')).toMatchObject({
      state: 'leased',
      agent: 'second',
      attempts: 2,
      fence: '2',
    });
    await expect(first.renew(one)).rejects.toThrow(/taken again \(token 1, now 2\)/);
  });

  it('a job taken more than maxAttempts times without a result is dead, not taken again', async () => {
    const { agent, expired } = await queue();
    // Leases long enough that the second take of a round cannot find the first job run out already.
    const source = agent({ leaseMs: 600, maxAttempts: 2 });
    await source.add({ id: 'doomed', job });
    await source.add({ id: 'patient', job, maxAttempts: 3 });
    const takes: string[] = [];
    for (let round = 0; round < 2; round++) {
      const a = (await source.take())!;
      const b = (await source.take())!;
      takes.push(a.id, b.id);
      await expired(a.id);
      await expired(b.id);
    }
    // The third round: 'doomed' has had its two takes and goes dead on the way; 'patient' has one left.
    const third = (await source.take())!;
    takes.push(third.id);
    expect(takes).toEqual(['doomed', 'patient', 'doomed', 'patient', 'patient']);
    expect(await source.get('doomed')).toMatchObject({
      state: 'dead',
      attempts: 2,
      agent: null,
      result: null,
    });
    // A dead job's last holder can no longer complete it.
    await expect(
      source.complete({ id: 'doomed', job, message: null, lease: '2' }, { result: 'Succeeded' }),
    ).rejects.toThrow(LeaseLostError);
  });

  it('a waiting take sleeps the whole poll, and an add from another agent wakes it (LISTEN/NOTIFY)', async () => {
    const { agent } = await queue();
    // On a virtual clock nobody moves, only a notification can end the wait.
    const clock = new VirtualClock();
    const idle = agent({ clock, pollMs: 600_000 });
    const waiting = idle.take();
    await waitingOn(clock);
    expect(clock.pending).toBe(1);
    expect(clock.nextDue()).toBe(600_000);
    await agent().add({ id: 'news', job, message: { hello: 'there' } });
    expect(await waiting).toMatchObject({ id: 'news', message: { hello: 'there' } });
    expect(clock.pending).toBe(0);
  });

  it('a waiting take wakes for the next lease to run out, not later', async () => {
    const { agent } = await queue();
    const clock = new VirtualClock();
    const source = agent({ clock, pollMs: 600_000, leaseMs: 30_000 });
    await source.add({ id: 'held', job });
    await source.take();
    void source.take().catch(() => {});
    await waitingOn(clock);
    expect(clock.nextDue()).toBeGreaterThan(0);
    expect(clock.nextDue()).toBeLessThanOrEqual(30_005);
  });

  it('a take aborted while its query was on its way gives the job back, uncounted', async () => {
    const { agent, sql, url } = await queue();
    const source = agent();
    await source.add({ id: 'a', job });
    // Hold the table so the take's query waits, abort it there, then let the query through.
    await sql.query('begin');
    await sql.query('lock table troupe_jobs.jobs in access exclusive mode');
    const controller = new AbortController();
    const taking = source.take(controller.signal);
    // Seen from another connection: one in a transaction keeps its first view of the activity.
    const watcher = new pg.Client(url);
    await watcher.connect();
    opened.push({ close: () => watcher.end() });
    for (;;) {
      const { rows } = await watcher.query(
        "select 1 from pg_stat_activity where wait_event_type = 'Lock' and query like '%skip locked%'",
      );
      if (rows.length > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    controller.abort(new Error('agent stopping'));
    // The take rejects as soon as it is aborted: its rejection is awaited from now on, or it would
    // go unhandled while the commit is on its way.
    const refused = expect(taking).rejects.toThrow('agent stopping');
    await sql.query('commit');
    await refused;
    // The token moved on (tokens only grow), the attempt did not count.
    expect(await source.get('a')).toMatchObject({ state: 'queued', fence: '1', attempts: 0, agent: null });
    expect(await source.take()).toMatchObject({ id: 'a', lease: '2' });
    expect(await source.get('a')).toMatchObject({ state: 'leased', attempts: 1 });
  });

  it('close ends waiting takes with no job, and refuses anything after', async () => {
    const { agent } = await queue();
    const source = agent();
    await source.add({ id: 'a', job });
    const held = (await source.take())!;
    const waiting = source.take();
    await source.close();
    expect(await waiting).toBeUndefined();
    expect(await source.take()).toBeUndefined();
    await expect(source.add({ id: 'b', job })).rejects.toBeInstanceOf(JobSourceClosedError);
    await expect(source.renew(held)).rejects.toBeInstanceOf(JobSourceClosedError);
    await expect(source.complete(held, { result: 'Succeeded' })).rejects.toBeInstanceOf(JobSourceClosedError);
    await source.close();
  });

  it('refuses what is not its own: a lease it never gave, an unknown job, bad options', async () => {
    const { agent } = await queue();
    const source = agent();
    await source.add({ id: 'a', job });
    const taken = (await source.take())!;
    await expect(source.renew({ ...taken, lease: 'lease-7' })).rejects.toThrow(
      /not a lease this source gave/,
    );
    await expect(source.complete({ ...taken, id: 'nope' }, { result: 'Failed' })).rejects.toBeInstanceOf(
      UnknownJobError,
    );
    await expect(source.add({ id: 'a', job })).rejects.toThrow(/job a already exists/);
    await expect(source.add({ id: 'rel', job: './jobs.mjs#run' })).rejects.toThrow(/relative path/);
    expect(() => new PostgresJobSource({ database: 'postgres://x', leaseMs: 0 })).toThrow(InvalidOptionError);
    expect(() => new PostgresJobSource({ database: 'postgres://x', schema: 'Bad-Name' })).toThrow(/schema/);
  });

  it('says the queue was never migrated, by its name, instead of a bare missing table', async () => {
    const url = await postgres.database();
    const source = new PostgresJobSource({ database: url });
    opened.push(source);
    await expect(source.add({ id: 'a', job })).rejects.toBeInstanceOf(QueueNotMigratedError);
    await expect(source.take()).rejects.toThrow(/schema troupe_jobs is not in this database: run migrate/);
  });

  it('migrates on first use when asked to', async () => {
    const url = await postgres.database();
    const source = new PostgresJobSource({ database: url, migrate: true, schema: 'own_queue' });
    opened.push(source);
    await source.add({ id: 'a', job, message: [1, 'two', { three: null }] });
    expect(await source.take()).toMatchObject({ id: 'a', message: [1, 'two', { three: null }] });
  });
});
