// The SQL of a job queue, written once per queue (its schema is part of every statement). Each
// statement's parameters are listed beside it; PostgresJobSource (source.ts) runs them.
import type { QueueNames } from './schema.js';

export interface QueueStatements {
  /** $1 id, $2 job, $3 message (JSON), $4 metadata (JSON or null), $5 priority, $6 max attempts. */
  readonly insert: string;
  /**
   * $1 agent, $2 lease ms, $3 how many. Leases the next takeable jobs, or moves to dead those that
   * have had their attempts; returns them (id, job, message, metadata, state, fence as text,
   * whether a cancel was asked for, its reason, the metadata's version, and priority and seq to
   * order them by), or no row.
   */
  readonly take: string;
  /**
   * $1 agent, $2 lease ms, $3 how many to take, $4 completions (a JSON array of objects: id,
   * fence as text, result, completion; one per job). One statement, one transaction: completes
   * each job as `complete` does (same condition: a token that is not the job's newest writes
   * nothing), and takes up to $3 other jobs as `take` does, whether or not the completions
   * applied. Returns one row per job taken, with `completed` (the ids whose completion applied)
   * on each, or a single row with `completed` and no job.
   */
  readonly completeAndTake: string;
  /** Milliseconds until the next lease ends (`ms`, null when none is held), on the database's clock. */
  readonly untilNextExpiry: string;
  /** $1 id, $2 fence, $3 lease ms. One row updated when the token is the job's newest and it is leased. */
  readonly renew: string;
  /**
   * $1 ids (text[]), $2 fences (bigint[], the same length), $3 lease ms. `renew` for many leases at
   * once; returns the id and fence (as text) of each one renewed.
   */
  readonly renewMany: string;
  /** $1 id, $2 fence, $3 result, $4 completion (JSON). Same condition as renew. */
  readonly complete: string;
  /** $1 id, $2 fence. Back to the queue, the attempt uncounted (the token stays raised). */
  readonly giveBack: string;
  /** $1 id. The job's state and fence (as text), to say why a token was refused. */
  readonly holder: string;
  /** $1 id. One job as `PostgresJob`. */
  readonly job: string;
  /** Every job as `PostgresJob`, oldest first. */
  readonly jobs: string;
}

export function queueStatements({ quoted: s }: QueueNames): QueueStatements {
  const selectJob = `select id, job, message, metadata, priority, state, fence::text as fence, attempts,
    max_attempts as "maxAttempts", agent, lease_expires_at as "leaseExpiresAt", renewals, result, completion,
    cancel_requested_at as "cancelRequestedAt", cancel_reason as "cancelReason"
    from ${s}.jobs`;
  // The next takeable jobs, by priority then age, locked: queued ones (the partial index
  // jobs_queued, read in its order) and ones whose lease ran out (jobs_leased, by expiry). Each
  // branch stops at the limit; at most the limit of the two is leased. SKIP LOCKED: agents never
  // wait on a row another agent is taking. The lock is re-checked against the row's newest
  // version, so a renewal that lands first keeps the job its holder's. `but`: an SQL array of the
  // job ids the statement must leave alone (those it completes).
  const next = (limit: string, but?: string) => {
    const other = but ? ` and id <> all(${but})` : '';
    return `next as (
        select id from (
          select * from (select id, priority, seq from ${s}.jobs
            where state = 'queued'${other}
            order by priority desc, seq limit ${limit} for update skip locked) queued
          union all
          select * from (select id, priority, seq from ${s}.jobs
            where state = 'leased' and lease_expires_at <= now()${other}
            order by priority desc, seq limit ${limit} for update skip locked) expired
        ) candidates
        order by priority desc, seq
        limit ${limit}
      )`;
  };
  // Leases the jobs of `next` (by primary key: no join the planner could make a scan of), or
  // moves to dead those that have had their attempts. In an UPDATE every right-hand side reads the
  // row as it was.
  const lease = (agent: string, leaseMs: string) => `update ${s}.jobs j
         set state = case when j.attempts >= j.max_attempts then 'dead' else 'leased' end,
             fence = j.fence + 1,
             attempts = case when j.attempts >= j.max_attempts then j.attempts else j.attempts + 1 end,
             agent = case when j.attempts >= j.max_attempts then null else ${agent} end,
             lease_expires_at = case when j.attempts >= j.max_attempts then null
               else now() + ${leaseMs} * interval '1 millisecond' end,
             taken_at = now(),
             finished_at = case when j.attempts >= j.max_attempts then now() else null end
       where j.id = any(array(select id from next))
      returning j.id, j.job, j.message, j.metadata, j.state, j.fence::text as fence,
        j.cancel_requested_at is not null as "cancelRequested", j.cancel_reason as "cancelReason",
        j.metadata_version as "metadataVersion", j.priority, j.seq`;
  return {
    insert: `insert into ${s}.jobs (id, job, message, metadata, priority, max_attempts)
      values ($1, $2, $3::jsonb, $4::jsonb, $5, $6)`,
    take: `with ${next('$3')}
      ${lease('$1', '$2')}`,
    // Data-modifying CTEs all run, on the same snapshot; `next` leaves the completed jobs alone
    // (one statement must not update a row twice), and a completion refused by its token still
    // leaves the agent a free slot to take for. The caller sends each job once.
    completeAndTake: `with asked as (
        select * from jsonb_to_recordset($4::jsonb) as a(id text, fence text, result text, completion jsonb)
      ), done as (
        update ${s}.jobs j
           set state = 'completed', result = asked.result, completion = asked.completion,
               finished_at = now(), lease_expires_at = null
          from asked
         where j.id = asked.id and j.fence = asked.fence::bigint and j.state = 'leased'
        returning j.id
      ), ${next('$3', 'array(select id from asked)')},
      taken as (
        ${lease('$1', '$2')}
      )
      select array(select id from done) as completed, taken.*
        from (select 1) one left join taken on true`,
    untilNextExpiry: `select ceil(extract(epoch from min(lease_expires_at) - now()) * 1000)::float8 as ms
      from ${s}.jobs where state = 'leased'`,
    renew: `update ${s}.jobs
         set lease_expires_at = now() + $3 * interval '1 millisecond', renewals = renewals + 1
       where id = $1 and fence = $2 and state = 'leased'`,
    renewMany: `update ${s}.jobs j
         set lease_expires_at = now() + $3 * interval '1 millisecond', renewals = j.renewals + 1
        from unnest($1::text[], $2::bigint[]) as asked(id, fence)
       where j.id = asked.id and j.fence = asked.fence and j.state = 'leased'
      returning j.id, j.fence::text as fence`,
    complete: `update ${s}.jobs
         set state = 'completed', result = $3, completion = $4::jsonb, finished_at = now(),
             lease_expires_at = null
       where id = $1 and fence = $2 and state = 'leased'`,
    giveBack: `update ${s}.jobs
         set state = 'queued', attempts = attempts - 1, agent = null, lease_expires_at = null
       where id = $1 and fence = $2 and state = 'leased'`,
    holder: `select state, fence::text as fence, result from ${s}.jobs where id = $1`,
    job: `${selectJob} where id = $1`,
    jobs: `${selectJob} order by seq`,
  };
}
