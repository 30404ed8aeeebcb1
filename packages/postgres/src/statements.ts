// The SQL of a job queue, written once per queue (its schema is part of every statement). Each
// statement's parameters are listed beside it; PostgresJobSource (source.ts) runs them.
import type { QueueNames } from './schema.js';

export interface QueueStatements {
  /** $1 id, $2 job, $3 message (JSON), $4 metadata (JSON or null), $5 priority, $6 max attempts. */
  readonly insert: string;
  /**
   * $1 agent, $2 lease ms. Leases the next takeable job, or moves it to dead when it has had its
   * attempts; returns it (id, job, message, metadata, state, fence as text, whether a cancel was
   * asked for, its reason, the metadata's version), or no row.
   */
  readonly take: string;
  /** Milliseconds until the next lease ends (`ms`, null when none is held), on the database's clock. */
  readonly untilNextExpiry: string;
  /** $1 id, $2 fence, $3 lease ms. One row updated when the token is the job's newest and it is leased. */
  readonly renew: string;
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
  return {
    insert: `insert into ${s}.jobs (id, job, message, metadata, priority, max_attempts)
      values ($1, $2, $3::jsonb, $4::jsonb, $5, $6)`,
    // SKIP LOCKED: agents never wait on a row another agent is taking. The lock is re-checked
    // against the row's newest version, so a renewal that lands first keeps the job its holder's.
    take: `with next as (
        select seq from ${s}.jobs
         where state = 'queued' or (state = 'leased' and lease_expires_at <= now())
         order by priority desc, seq
         limit 1
         for update skip locked
      ), taken as (
        select j.seq, j.attempts >= j.max_attempts as spent from ${s}.jobs j join next using (seq)
      )
      update ${s}.jobs j
         set state = case when taken.spent then 'dead' else 'leased' end,
             fence = j.fence + 1,
             attempts = case when taken.spent then j.attempts else j.attempts + 1 end,
             agent = case when taken.spent then null else $1 end,
             lease_expires_at = case when taken.spent then null else now() + $2 * interval '1 millisecond' end,
             taken_at = now(),
             finished_at = case when taken.spent then now() else null end
        from taken
       where j.seq = taken.seq
      returning j.id, j.job, j.message, j.metadata, j.state, j.fence::text as fence,
        j.cancel_requested_at is not null as "cancelRequested", j.cancel_reason as "cancelReason",
        j.metadata_version as "metadataVersion"`,
    untilNextExpiry: `select ceil(extract(epoch from min(lease_expires_at) - now()) * 1000)::float8 as ms
      from ${s}.jobs where state = 'leased'`,
    renew: `update ${s}.jobs
         set lease_expires_at = now() + $3 * interval '1 millisecond', renewals = renewals + 1
       where id = $1 and fence = $2 and state = 'leased'`,
    complete: `update ${s}.jobs
         set state = 'completed', result = $3, completion = $4::jsonb, finished_at = now(),
             lease_expires_at = null
       where id = $1 and fence = $2 and state = 'leased'`,
    giveBack: `update ${s}.jobs
         set state = 'queued', attempts = attempts - 1, agent = null, lease_expires_at = null
       where id = $1 and fence = $2 and state = 'leased'`,
    holder: `select state, fence::text as fence from ${s}.jobs where id = $1`,
    job: `${selectJob} where id = $1`,
    jobs: `${selectJob} order by seq`,
  };
}
