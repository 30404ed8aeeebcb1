// The job queue's schema, as numbered migrations recorded in `<schema>.migrations`. `migrate`
// applies the missing ones in one transaction under an advisory lock, so agents that start at once
// wait for each other instead of creating the same tables twice; a migration, once released, is
// never edited (a change is a new one).
import pg from 'pg';
import { SchemaTooNewError } from './errors.js';
import { type QueueNames, queueNames } from './schema.js';

export interface Migration {
  readonly version: number;
  readonly name: string;
  /** The statements, for a queue in schema `names`. */
  sql(names: QueueNames): string;
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'jobs',
    sql: ({ quoted: s, channel }) => `
      create table ${s}.jobs (
        -- Age, for taking in order: now() is the same for every row one transaction adds.
        seq bigint generated always as identity,
        id text primary key,
        job text not null,
        message jsonb,
        metadata jsonb,
        -- Higher first.
        priority integer not null default 0,
        state text not null default 'queued'
          check (state in ('queued', 'leased', 'completed', 'dead')),
        -- The fencing token: raised by every take, presented by every renew and complete.
        fence bigint not null default 0,
        -- Takes so far; one more than max_attempts makes the job dead instead of leased.
        attempts integer not null default 0,
        max_attempts integer not null check (max_attempts >= 1),
        agent text,
        -- On the database's clock, never an agent's.
        lease_expires_at timestamptz,
        renewals integer not null default 0,
        created_at timestamptz not null default now(),
        taken_at timestamptz,
        finished_at timestamptz,
        result text,
        completion jsonb
      );
      create index jobs_takeable on ${s}.jobs (priority desc, seq) where state in ('queued', 'leased');
      create function ${s}.notify_added() returns trigger language plpgsql as $$
        begin
          perform pg_notify('${channel}', '');
          return null;
        end
      $$;
      create trigger jobs_added after insert on ${s}.jobs
        for each statement execute function ${s}.notify_added();
    `,
  },
  {
    version: 2,
    name: 'controls',
    // A cancel asked for a leased job, and metadata updates counted, for its holder to pick up
    // (a NOTIFY on the control channel tells it at once; its slow poll, failing that).
    sql: ({ quoted: s }) => `
      alter table ${s}.jobs
        add column cancel_requested_at timestamptz,
        add column cancel_reason text,
        add column metadata_version integer not null default 0;
    `,
  },
  {
    version: 3,
    name: 'take indexes',
    // A take reads queued jobs in the order it takes them and stops at its limit; jobs whose lease
    // ran out are found by expiry. One index over both states made the planner read every
    // takeable row and sort them, on every take: the longer the queue, the slower each take.
    sql: ({ quoted: s }) => `
      drop index ${s}.jobs_takeable;
      create index jobs_queued on ${s}.jobs (priority desc, seq) where state = 'queued';
      create index jobs_leased on ${s}.jobs (lease_expires_at) where state = 'leased';
    `,
  },
];

export interface MigrateOptions {
  /** The queue's schema. Default `troupe_jobs`. */
  schema?: string;
}

export interface MigrateResult {
  /** The versions this call applied (empty when the schema was up to date). */
  applied: number[];
  /** The schema's version now. */
  version: number;
}

/**
 * Brings the queue's schema up to the newest migration. Safe to call from many agents at once and
 * on every start. Rejects with `SchemaTooNewError` when a newer troupe has migrated it further.
 */
export async function migrate(
  database: string | pg.Pool,
  options: MigrateOptions = {},
): Promise<MigrateResult> {
  const names = queueNames(options.schema);
  const pool = typeof database === 'string' ? new pg.Pool({ connectionString: database, max: 1 }) : database;
  try {
    const client = await pool.connect();
    try {
      await client.query('begin');
      try {
        const result = await migrateIn(client, names);
        await client.query('commit');
        return result;
      } catch (error) {
        await client.query('rollback');
        throw error;
      }
    } finally {
      client.release();
    }
  } finally {
    if (pool !== database) await pool.end();
  }
}

async function migrateIn(client: pg.PoolClient, names: QueueNames): Promise<MigrateResult> {
  const s = names.quoted;
  // Held to the end of the transaction: a second migrator waits here, then finds nothing to do.
  await client.query('select pg_advisory_xact_lock(hashtext($1))', [`troupe.migrate.${names.schema}`]);
  await client.query(`create schema if not exists ${s}`);
  await client.query(
    `create table if not exists ${s}.migrations (
       version integer primary key,
       name text not null,
       applied_at timestamptz not null default now()
     )`,
  );
  const { rows } = await client.query<{ version: number | null }>(
    `select max(version) as version from ${s}.migrations`,
  );
  const current = rows[0]?.version ?? 0;
  const newest = migrations.at(-1)?.version ?? 0;
  if (current > newest) throw new SchemaTooNewError(names.schema, current, newest);
  const applied: number[] = [];
  for (const migration of migrations) {
    if (migration.version <= current) continue;
    await client.query(migration.sql(names));
    await client.query(`insert into ${s}.migrations (version, name) values ($1, $2)`, [
      migration.version,
      migration.name,
    ]);
    applied.push(migration.version);
  }
  return { applied, version: Math.max(current, newest) };
}
