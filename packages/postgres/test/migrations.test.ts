// The job queue's schema: numbered migrations recorded in the database, applied once whoever
// asks and however many ask at once.
import { InvalidOptionError } from '@troupe/core';
import { migrate, SchemaTooNewError } from '@troupe/postgres';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { usePrivatePostgres } from './support/server.js';

const postgres = usePrivatePostgres();

async function query<R extends pg.QueryResultRow>(url: string, text: string): Promise<R[]> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    return (await client.query<R>(text)).rows;
  } finally {
    await client.end();
  }
}

describe('migrate', () => {
  it('creates the schema at the newest version, and a second run applies nothing', async () => {
    const url = await postgres.database();
    expect(await migrate(url)).toEqual({ applied: [1, 2, 3], version: 3 });
    expect(await migrate(url)).toEqual({ applied: [], version: 3 });
    expect(await query(url, 'select version, name from troupe_jobs.migrations order by 1')).toEqual([
      { version: 1, name: 'jobs' },
      { version: 2, name: 'controls' },
      { version: 3, name: 'take indexes' },
    ]);
    const tables = await query<{ table_name: string }>(
      url,
      "select table_name from information_schema.tables where table_schema = 'troupe_jobs' order by 1",
    );
    expect(tables.map((row) => row.table_name)).toEqual(['jobs', 'migrations']);
  });

  it('agents migrating at once: one applies each migration, the others wait and find nothing to do', async () => {
    const url = await postgres.database();
    const results = await Promise.all(Array.from({ length: 6 }, () => migrate(url)));
    expect(results.map((result) => result.applied).sort()).toEqual([[], [], [], [], [], [1, 2, 3]]);
    expect(results.every((result) => result.version === 3)).toBe(true);
    expect(await query(url, 'select count(*)::int as n from troupe_jobs.migrations')).toEqual([{ n: 3 }]);
  });

  it('keeps queues in different schemas apart, on a pool the caller owns', async () => {
    const url = await postgres.database();
    const pool = new pg.Pool({ connectionString: url });
    try {
      expect(await migrate(pool, { schema: 'queue_a' })).toEqual({ applied: [1, 2, 3], version: 3 });
      expect(await migrate(pool, { schema: 'queue_b' })).toEqual({ applied: [1, 2, 3], version: 3 });
      // The pool is still the caller's to use.
      const { rows } = await pool.query(
        "select nspname from pg_namespace where nspname like 'queue_%' order by 1",
      );
      expect(rows).toEqual([{ nspname: 'queue_a' }, { nspname: 'queue_b' }]);
    } finally {
      await pool.end();
    }
    await expect(migrate(url, { schema: 'drop table' })).rejects.toBeInstanceOf(InvalidOptionError);
  });

  it('refuses a schema a newer troupe has migrated further, and changes nothing', async () => {
    const url = await postgres.database();
    await migrate(url);
    await query(url, "insert into troupe_jobs.migrations (version, name) values (7, 'from the future')");
    const refused = migrate(url);
    await expect(refused).rejects.toBeInstanceOf(SchemaTooNewError);
    await expect(refused).rejects.toThrow(/at migration 7, newer than this troupe knows \(3\)/);
    expect(await query(url, 'select max(version) as v from troupe_jobs.migrations')).toEqual([{ v: 7 }]);
  });
});
