// What a PostgresJobSource is given and what it gives: its options, a job to add, a job as the
// table holds it, its events; and the check of the numeric options.
import type { Clock, JobCompletion } from '@troupe/core';
import { InvalidOptionError } from '@troupe/core';
import type pg from 'pg';

export interface PostgresJobSourceOptions {
  /** A connection string or a node-postgres config; the source opens its own pool and listener. */
  database: string | pg.PoolConfig;
  /** The queue's schema. Default `troupe_jobs`. */
  schema?: string;
  /** Migrate the schema before the first query. Default false (run `migrate` once, or set this). */
  migrate?: boolean;
  /** How long a lease lasts after a take or a renewal, on the database's clock. Default 5 min. */
  leaseMs?: number;
  /** The slow poll under LISTEN/NOTIFY: the longest a waiting take sleeps. Default 2 s. */
  pollMs?: number;
  /** Takes of one job without a result before it is dead instead of leased again. Default 5. */
  maxAttempts?: number;
  /** This agent's name, recorded on the jobs it holds. Default `host/pid/random`. */
  agent?: string;
  /** Connections in the pool (the listener has its own). Default 4. */
  poolSize?: number;
  clock?: Clock;
}

/** A job as the table holds it. */
export interface PostgresJob {
  id: string;
  job: string;
  message: unknown;
  metadata: Record<string, unknown> | null;
  priority: number;
  state: 'queued' | 'leased' | 'completed' | 'dead';
  /** The fencing token of the newest take (0: never taken). */
  fence: string;
  attempts: number;
  maxAttempts: number;
  agent: string | null;
  leaseExpiresAt: Date | null;
  renewals: number;
  result: string | null;
  completion: JobCompletion | null;
  /** When a cancel was asked for while the job was leased (or queued: it then ended `Canceled`). */
  cancelRequestedAt: Date | null;
  cancelReason: string | null;
}

export interface JobSpec {
  job: string;
  message?: unknown;
  metadata?: Record<string, unknown>;
  id?: string;
  /** Higher is taken first. Default 0. */
  priority?: number;
  /** Overrides the source's `maxAttempts` for this job. */
  maxAttempts?: number;
}

export interface PostgresJobSourceEvents {
  /** The database could not be reached (a take retries with back-off; the listener reconnects). */
  warning: [error: Error];
}

/** `value` when it is a positive integer, `fallback` when it is left out; anything else is refused. */
export function positive(value: number | undefined, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1)
    throw new InvalidOptionError(option, 'a positive integer', value);
  return value;
}
