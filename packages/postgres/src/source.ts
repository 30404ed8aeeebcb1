// `PostgresJobSource`: a `JobSource` on a PostgreSQL table that many agents share. A take leases
// one job (FOR UPDATE SKIP LOCKED, by priority then age) and raises its fencing token; renew and
// complete present that token and are refused once another take has raised it. Lease expiry is
// the database's `now()`, so agents' clocks never decide who holds a job.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import {
  type Clock,
  DuplicateJobError,
  InvalidOptionError,
  JobAlreadyCompletedError,
  type JobCompletion,
  type JobRequest,
  type JobSource,
  type Lease,
  LeaseLostError,
  systemClock,
  TaskModuleError,
  UnknownJobError,
} from '@troupe/core';
import pg from 'pg';
import { Batcher } from './batch.js';
import { JobSourceClosedError, QueueNotMigratedError } from './errors.js';
import { migrate } from './migrations.js';
import { type QueueNames, queueNames } from './schema.js';
import { type QueueStatements, queueStatements } from './statements.js';
import { Wakeups } from './wakeups.js';

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

/** SQLSTATE classes of errors worth retrying: connection, resources, operator intervention. */
const TRANSIENT = /^(08|53|57)/;

export class PostgresJobSource extends EventEmitter<PostgresJobSourceEvents> implements JobSource {
  readonly agent: string;
  readonly #pool: pg.Pool;
  readonly #names: QueueNames;
  readonly #sql: QueueStatements;
  readonly #wakeups: Wakeups;
  readonly #clock: Clock;
  readonly #leaseMs: number;
  readonly #pollMs: number;
  readonly #maxAttempts: number;
  readonly #migrate: boolean;
  /** Each statement's name on the connections that prepared it (prepared once per connection). */
  readonly #prepared: Map<string, string>;
  /** Concurrent takes, as one query (batch.ts). */
  readonly #takes = new Batcher((count) => this.#takeSome(count));
  /** The one look at the next lease expiry on its way, which every take that found nothing shares. */
  #expiry: Promise<number> | undefined;
  /** Jobs taken and not yet renewed: the take's own lease serves as their first renewal. */
  readonly #fresh = new Map<string, { fence: string; askedAt: number }>();
  #ready: Promise<void> | undefined;
  #closed: Promise<void> | undefined;

  constructor(options: PostgresJobSourceOptions) {
    super();
    this.#names = queueNames(options.schema);
    this.#sql = queueStatements(this.#names);
    this.#prepared = new Map(
      Object.entries(this.#sql).map(([key, text]) => [text as string, `troupe.${this.#names.schema}.${key}`]),
    );
    this.#clock = options.clock ?? systemClock;
    this.#leaseMs = positive(options.leaseMs, 'leaseMs', 5 * 60_000);
    this.#pollMs = positive(options.pollMs, 'pollMs', 2_000);
    this.#maxAttempts = positive(options.maxAttempts, 'maxAttempts', 5);
    this.#migrate = options.migrate ?? false;
    this.agent = options.agent ?? `${hostname()}/${process.pid}/${Math.random().toString(36).slice(2, 8)}`;
    // A database that does not answer must not hang a connect for good (pg's default): 10 s.
    const config: pg.PoolConfig = {
      connectionTimeoutMillis: 10_000,
      keepAlive: true,
      ...(typeof options.database === 'string' ? { connectionString: options.database } : options.database),
    };
    this.#pool = new pg.Pool({ ...config, max: positive(options.poolSize, 'poolSize', 4) });
    // An idle pooled connection that fails is dropped by the pool; the next query opens another.
    this.#pool.on('error', (error) => this.emit('warning', error));
    this.#wakeups = new Wakeups({
      connection: config,
      channel: this.#names.quotedChannel,
      clock: this.#clock,
      maxBackoffMs: this.#pollMs,
      warn: (error) => this.emit('warning', error),
    });
  }

  /** Queues a job; returns its id. Every agent listening on the queue is woken. */
  async add(spec: JobSpec): Promise<string> {
    if (this.#closed) throw new JobSourceClosedError(`${spec.job} was not added`);
    if (/^\.\.?\//.test(spec.job)) {
      throw new TaskModuleError(spec.job, 'its module is a relative path, which a worker cannot resolve');
    }
    await this.#ensureReady();
    const id = spec.id ?? randomUUID();
    try {
      await this.#query(this.#sql.insert, [
        id,
        spec.job,
        JSON.stringify(spec.message ?? null),
        spec.metadata === undefined ? null : JSON.stringify(spec.metadata),
        spec.priority ?? 0,
        positive(spec.maxAttempts, 'maxAttempts', this.#maxAttempts),
      ]);
    } catch (error) {
      if ((error as { code?: string }).code === '23505') throw new DuplicateJobError(id);
      throw error;
    }
    return id;
  }

  /**
   * The next job, leased to this agent; waits (on a NOTIFY, the next lease expiry, or the slow
   * poll) while there is none. Resolves undefined once the source is closed.
   */
  async take(signal?: AbortSignal): Promise<JobRequest | undefined> {
    signal?.throwIfAborted();
    if (this.#closed) return undefined;
    // Migrating and connecting the listener can take a while: the signal is heard meanwhile.
    await abortable(
      this.#ensureReady().then(() => this.#wakeups.listen()),
      signal,
    );
    let backoffMs = 50;
    while (!this.#closed) {
      signal?.throwIfAborted();
      const since = this.#wakeups.generation;
      let waitMs: number;
      try {
        const askedAt = this.#clock.now();
        const taken = await this.#takes.one();
        if (taken === 'dead') continue;
        if (taken && !signal?.aborted) {
          this.#fresh.set(taken.id, { fence: taken.lease, askedAt });
          return taken;
        }
        // Aborted while the take was on its way: the job goes back as it was, uncounted.
        if (taken) await this.#giveBack(taken);
        if (signal?.aborted) break;
        this.#expiry ??= this.#untilNextExpiry().finally(() => {
          this.#expiry = undefined;
        });
        waitMs = Math.min(this.#pollMs, await this.#expiry);
        backoffMs = 50;
      } catch (error) {
        // Closed meanwhile: the pool was ended under the query, which is no failure of the take.
        if (this.#closed) return undefined;
        if (!isTransient(error)) throw error;
        this.emit('warning', error as Error);
        waitMs = backoffMs;
        backoffMs = Math.min(backoffMs * 2, this.#pollMs);
      }
      await this.#wakeups.wait(since, waitMs, signal);
    }
    signal?.throwIfAborted();
    return undefined;
  }

  /**
   * Extends the lease from the database's now. Rejects with `LeaseLostError` when the token is
   * not the job's newest (another take has it) or the job is no longer leased. A lease that ran
   * out but that nobody has taken since is still its holder's, and is renewed.
   *
   * The first renewal of a job this source took, while the take's lease has at least half of it
   * left, asks nothing of the database: the take has just granted the lease (nobody can take the
   * job before it runs out), so it is reported as is, ending `leaseMs` after the take was asked
   * for on the agent's clock. A dispatcher renews before it starts a worker: this saves each job
   * a round trip.
   */
  async renew(request: JobRequest, _signal?: AbortSignal): Promise<Lease> {
    if (this.#closed) throw new JobSourceClosedError(`the lease of job ${request.id} was not renewed`);
    const fence = fenceOf(request);
    const fresh = this.#fresh.get(request.id);
    this.#fresh.delete(request.id);
    if (fresh?.fence === fence && this.#clock.now() - fresh.askedAt < this.#leaseMs / 2) {
      return { expiresAt: fresh.askedAt + this.#leaseMs };
    }
    const startedAt = this.#clock.now();
    const { rowCount } = await this.#query(this.#sql.renew, [request.id, fence, this.#leaseMs]);
    if (rowCount !== 1) throw await this.#refusal(request, fence, 'renew');
    // On the agent's clock, from before the request left: never later than the database's expiry.
    return { expiresAt: startedAt + this.#leaseMs };
  }

  /**
   * Records the job's one result. A token that is not the job's newest writes nothing and rejects
   * with `LeaseLostError`; a second completion by the same holder, with `JobAlreadyCompletedError`.
   */
  async complete(request: JobRequest, completion: JobCompletion): Promise<void> {
    if (this.#closed) throw new JobSourceClosedError(`the result of job ${request.id} was not recorded`);
    const fence = fenceOf(request);
    this.#fresh.delete(request.id);
    const { rowCount } = await this.#query(this.#sql.complete, [
      request.id,
      fence,
      completion.result,
      JSON.stringify(completion),
    ]);
    if (rowCount !== 1) throw await this.#refusal(request, fence, 'complete');
  }

  /** The job as the table holds it now, or undefined. */
  async get(id: string): Promise<PostgresJob | undefined> {
    await this.#ensureReady();
    const { rows } = await this.#query<PostgresJob>(this.#sql.job, [id]);
    return rows[0];
  }

  /** Every job, oldest first. */
  async list(): Promise<PostgresJob[]> {
    await this.#ensureReady();
    const { rows } = await this.#query<PostgresJob>(this.#sql.jobs);
    return rows;
  }

  /**
   * Stops: waiting takes resolve undefined (a dispatcher's `run()` then ends), the listener and
   * the pool are closed. Shut the dispatcher down first, so its running jobs can still report.
   * Idempotent.
   */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      await this.#wakeups.close();
      await this.#pool.end();
    })();
    return this.#closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #ensureReady(): Promise<void> {
    this.#ready ??= this.#migrate
      ? migrate(this.#pool, { schema: this.#names.schema }).then(
          () => {},
          (error: unknown) => {
            // The next call tries again: a database down at start must not break the source for good.
            this.#ready = undefined;
            throw error;
          },
        )
      : Promise.resolve();
    return this.#ready;
  }

  /** A query on the pool; a queue nobody migrated is said so, by name. */
  async #query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      const name = this.#prepared.get(text);
      return await this.#pool.query<R>(name ? { name, text, values } : { text, values });
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      // undefined_table, invalid_schema_name
      if (code === '42P01' || code === '3F000') throw new QueueNotMigratedError(this.#names.schema, error);
      throw error;
    }
  }

  /**
   * Up to `count` takes in one query, by priority then age: each a leased job, or 'dead' where
   * the job found was moved to dead instead. Fewer when the queue holds fewer.
   */
  async #takeSome(count: number): Promise<Array<JobRequest | 'dead'>> {
    const { rows } = await this.#query<TakenRow>(this.#sql.take, [this.agent, this.#leaseMs, count]);
    rows.sort((a, b) => b.priority - a.priority || (BigInt(a.seq) < BigInt(b.seq) ? -1 : 1));
    return rows.map((row) =>
      row.state === 'dead'
        ? 'dead'
        : {
            id: row.id,
            job: row.job,
            message: row.message,
            ...(row.metadata && { metadata: row.metadata }),
            lease: row.fence,
          },
    );
  }

  /** How long until the next lease runs out, on the database's clock (the poll when none is held). */
  async #untilNextExpiry(): Promise<number> {
    const { rows } = await this.#query<{ ms: number | null }>(this.#sql.untilNextExpiry);
    const ms = rows[0]?.ms;
    // A job whose lease ran out but that another agent is taking right now is skipped: look
    // again shortly rather than at once.
    return ms === null || ms === undefined ? this.#pollMs : Math.max(ms + 5, 20);
  }

  async #giveBack(job: JobRequest): Promise<void> {
    await this.#query(this.#sql.giveBack, [job.id, job.lease]);
  }

  /** Why a token was refused, in words. */
  async #refusal(request: JobRequest, fence: string, asked: 'renew' | 'complete'): Promise<Error> {
    const { rows } = await this.#query<{ state: string; fence: string }>(this.#sql.holder, [request.id]);
    const row = rows[0];
    if (!row) return new UnknownJobError(request.id);
    if (row.fence !== fence) {
      return new LeaseLostError(request.id, `it was taken again (token ${fence}, now ${row.fence})`);
    }
    if (asked === 'complete' && row.state === 'completed') return new JobAlreadyCompletedError(request.id);
    return new LeaseLostError(request.id, `it is ${row.state}, not leased`);
  }
}

interface TakenRow {
  id: string;
  job: string;
  message: unknown;
  metadata: Record<string, unknown> | null;
  state: 'leased' | 'dead';
  fence: string;
  priority: number;
  /** bigint, as text. */
  seq: string;
}

function fenceOf(request: JobRequest): string {
  if (!/^\d{1,18}$/.test(request.lease)) {
    throw new LeaseLostError(request.id, `${JSON.stringify(request.lease)} is not a lease this source gave`);
  }
  return request.lease;
}

function positive(value: number | undefined, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1)
    throw new InvalidOptionError(option, 'a positive integer', value);
  return value;
}

/** `promise`, or the signal's reason as soon as it aborts (the work itself goes on). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function isTransient(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  // A system error of the socket: refused, reset, unreachable.
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return true;
  if (typeof code === 'string' && code.length === 5) return TRANSIENT.test(code);
  return typeof message === 'string' && /connection (terminated|timeout)|connection error/i.test(message);
}
