// Exactly one result per job under contention, in one process: four agents' sources, three takers
// each, short leases; a taker completes its job, or stalls past the lease and then tries to
// complete it (a zombie, refused if another take came in between), or drops it (an agent that
// died: the job comes back when its lease runs out). Whatever the interleaving, the table ends
// with each job completed once, by a completion that was accepted, or dead; nothing else.
import { LeaseLostError } from '@troupe/core';
import { migrate, PostgresJobSource } from '@troupe/postgres';
import { SeededRandom } from '@troupe/testing';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { usePrivatePostgres } from './support/server.js';

const postgres = usePrivatePostgres();
const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

const JOBS = 60;

describe('many takers, short leases', () => {
  it('every job ends completed exactly once by an accepted completion, or dead; refused zombies write nothing', async () => {
    const url = await postgres.database();
    await migrate(url);
    const sql = new pg.Client(url);
    await sql.connect();
    cleanup.push(() => sql.end());
    const sources = ['a', 'b', 'c', 'd'].map((agent) => {
      const source = new PostgresJobSource({
        database: url,
        agent,
        leaseMs: 150,
        maxAttempts: 4,
        pollMs: 500,
      });
      cleanup.push(() => source.close());
      return source;
    });
    for (let i = 0; i < JOBS; i++) await sources[i % 4]!.add({ id: `job-${i}`, job: 'file:///j.mjs#a' });

    const accepted = new Map<string, string[]>();
    const refused: Array<{ id: string; lease: string }> = [];
    const stop = new AbortController();
    /** Waits until the server's clock has passed the end of this take's lease (or it is no longer this take's). */
    const stall = async (id: string, lease: string) => {
      for (;;) {
        const { rows } = await sql.query(
          'select lease_expires_at <= now() or fence <> $2 as over from troupe_jobs.jobs where id = $1',
          [id, lease],
        );
        if (rows[0]?.over !== false) return;
        await new Promise((resolve) => setTimeout(resolve, 15));
      }
    };
    const taker = async (source: PostgresJobSource, name: string, random: SeededRandom) => {
      for (;;) {
        const job = await source.take(stop.signal).catch(() => undefined);
        if (!job) return;
        const move = random.float();
        if (move >= 0.8) continue; // dropped: this agent "died" holding it
        if (move >= 0.55) await stall(job.id, job.lease);
        const reason = `${name} with token ${job.lease}`;
        try {
          await source.complete(job, { result: 'Succeeded', reason });
          accepted.set(job.id, [...(accepted.get(job.id) ?? []), reason]);
        } catch (error) {
          expect(error).toBeInstanceOf(LeaseLostError);
          refused.push({ id: job.id, lease: job.lease });
        }
      }
    };
    const random = new SeededRandom(15);
    const takers = sources.flatMap((source, s) =>
      [0, 1, 2].map((t) => taker(source, `${source.agent}${t}`, new SeededRandom(random.int(2 ** 31) + s))),
    );
    // Done when no job is left queued or leased (an event in the table, polled).
    for (;;) {
      const { rows } = await sql.query(
        "select count(*)::int as n from troupe_jobs.jobs where state in ('queued', 'leased')",
      );
      if (rows[0].n === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    stop.abort(new Error('done'));
    await Promise.all(takers);

    const { rows } = await sql.query<{ id: string; state: string; fence: string; reason: string | null }>(
      "select id, state, fence::text as fence, completion->>'reason' as reason from troupe_jobs.jobs order by seq",
    );
    expect(rows).toHaveLength(JOBS);
    for (const row of rows) {
      const mine = accepted.get(row.id) ?? [];
      if (row.state === 'completed') {
        // One accepted completion, the one recorded, made with the job's last token.
        expect(mine).toEqual([row.reason]);
        expect(row.reason).toMatch(new RegExp(`with token ${row.fence}$`));
      } else {
        expect(row.state).toBe('dead');
        expect(mine).toEqual([]);
      }
    }
    // Every refused completion presented a token older than the job's last.
    const last = new Map(rows.map((row) => [row.id, BigInt(row.fence)]));
    for (const { id, lease } of refused) expect(BigInt(lease)).toBeLessThan(last.get(id)!);
    // Dropped jobs came back: some were taken more than once (a fifth of all takes drop their job).
    expect(rows.some((row) => BigInt(row.fence) > 1n)).toBe(true);
  });
});
