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
  JobAlreadyCompletedError,
  type JobCompletion,
  type JobControl,
  type JobRequest,
  type JobSource,
  type Lease,
  LeaseLostError,
  systemClock,
  TaskModuleError,
  UnknownJobError,
} from '@troupe/core';
import pg from 'pg';
import {
  type CancelOutcome,
  type ControlStatements,
  controlStatements,
  HeldJobs,
  type MetadataOutcome,
} from './controls.js';
import { JobSourceClosedError, QueueNotMigratedError } from './errors.js';
import { migrate } from './migrations.js';
import {
  type JobSpec,
  type PostgresJob,
  type PostgresJobSourceEvents,
  type PostgresJobSourceOptions,
  positive,
} from './options.js';
import { type QueueNames, queueNames } from './schema.js';
import { type QueueStatements, queueStatements } from './statements.js';
import { abortable, isTransient } from './transient.js';
import { Wakeups } from './wakeups.js';

export class PostgresJobSource extends EventEmitter<PostgresJobSourceEvents> implements JobSource {
  readonly agent: string;
  readonly #pool: pg.Pool;
  readonly #names: QueueNames;
  readonly #sql: QueueStatements;
  readonly #controlSql: ControlStatements;
  readonly #held: HeldJobs;
  readonly #wakeups: Wakeups;
  readonly #clock: Clock;
  readonly #leaseMs: number;
  readonly #pollMs: number;
  readonly #maxAttempts: number;
  readonly #migrate: boolean;
  #ready: Promise<void> | undefined;
  #closed: Promise<void> | undefined;

  constructor(options: PostgresJobSourceOptions) {
    super();
    this.#names = queueNames(options.schema);
    this.#sql = queueStatements(this.#names);
    this.#controlSql = controlStatements(this.#names);
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
      control: {
        channel: this.#names.controlChannel,
        quoted: this.#names.quotedControlChannel,
        heard: (id) => this.#held.heard(id),
      },
    });
    this.#held = new HeldJobs({
      statements: this.#controlSql,
      query: (text, values) => this.#query(text, values),
      clock: this.#clock,
      pollMs: this.#pollMs,
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
        const taken = await this.#takeOne();
        if (taken === 'ended') continue;
        if (taken && !signal?.aborted) {
          this.#held.hold(taken.id, taken.lease, taken.metadataVersion);
          const { metadataVersion: _, ...request } = taken;
          return request;
        }
        // Aborted while the take was on its way: the job goes back as it was, uncounted.
        if (taken) await this.#giveBack(taken);
        if (signal?.aborted) break;
        waitMs = Math.min(this.#pollMs, await this.#untilNextExpiry());
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
   */
  async renew(request: JobRequest, _signal?: AbortSignal): Promise<Lease> {
    if (this.#closed) throw new JobSourceClosedError(`the lease of job ${request.id} was not renewed`);
    const fence = fenceOf(request);
    const startedAt = this.#clock.now();
    const { rowCount } = await this.#query(this.#sql.renew, [request.id, fence, this.#leaseMs]);
    if (rowCount !== 1) {
      const refusal = await this.#refusal(request, fence, 'renew');
      if (refusal instanceof LeaseLostError || refusal instanceof UnknownJobError) {
        this.#held.release(request.id, fence);
      }
      throw refusal;
    }
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
    // Reported or refused, the job is no longer this agent's to control.
    this.#held.release(request.id, fence);
    // A database that is away for a while must not lose the result: the report is retried with
    // back-off for as long as a lease lasts; the token keeps a late one from counting twice.
    const { rowCount } = await this.#retrying(() =>
      this.#query(this.#sql.complete, [request.id, fence, completion.result, JSON.stringify(completion)]),
    );
    if (rowCount !== 1) throw await this.#refusal(request, fence, 'complete');
  }

  /**
   * Cancels a job, from any process that can reach the queue. A queued job is completed as
   * `Canceled` at once and never runs; a leased one is marked and its holder told (NOTIFY, or its
   * slow poll), whose dispatcher cancels its worker and reports the job's one result. A lease that
   * runs out before that makes the next take complete it as `Canceled` instead of running it.
   */
  async cancel(id: string, reason = 'cancelled through the queue'): Promise<CancelOutcome> {
    await this.#ensureReady();
    const completion: JobCompletion = { result: 'Canceled', reason };
    const { rows } = await this.#query<{ state: string }>(this.#controlSql.cancel, [
      id,
      reason,
      JSON.stringify(completion),
      this.#names.controlChannel,
    ]);
    const state = rows[0]?.state;
    if (state === 'completed') return 'canceled';
    if (state === 'leased') return 'requested';
    if (!(await this.get(id))) throw new UnknownJobError(id);
    return 'finished';
  }

  /**
   * Merges `metadata` into a job's (updates replace keys). A queued job starts with it; a leased
   * one's holder is told, and its dispatcher forwards the update to the running worker.
   */
  async updateMetadata(id: string, metadata: Record<string, unknown>): Promise<MetadataOutcome> {
    await this.#ensureReady();
    const { rows } = await this.#query<{ state: string }>(this.#controlSql.updateMetadata, [
      id,
      JSON.stringify(metadata),
      this.#names.controlChannel,
    ]);
    const state = rows[0]?.state;
    if (state === 'queued') return 'queued';
    if (state === 'leased') return 'sent';
    if (!(await this.get(id))) throw new UnknownJobError(id);
    return 'finished';
  }

  /** Cancels and metadata updates of the jobs this agent holds (a dispatcher watches while it runs). */
  watch(listener: (control: JobControl) => boolean): () => void {
    return this.#held.watch(listener);
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
      this.#held.close();
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

  /** `attempt` again after transient failures (each a warning), with back-off, for up to `leaseMs`. */
  async #retrying<T>(attempt: () => Promise<T>): Promise<T> {
    const deadline = this.#clock.now() + this.#leaseMs;
    let backoffMs = 50;
    for (;;) {
      try {
        return await attempt();
      } catch (error) {
        if (this.#closed || !isTransient(error) || this.#clock.now() + backoffMs > deadline) throw error;
        this.emit('warning', error as Error);
        await new Promise<void>((resolve) => this.#clock.setTimeout(() => resolve(), backoffMs));
        backoffMs = Math.min(backoffMs * 2, this.#pollMs);
      }
    }
  }

  /** A query on the pool; a queue nobody migrated is said so, by name. */
  async #query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.#pool.query<R>(text, values);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      // undefined_table, invalid_schema_name
      if (code === '42P01' || code === '3F000') throw new QueueNotMigratedError(this.#names.schema, error);
      throw error;
    }
  }

  /**
   * One take: the leased job; 'ended' when the job found was moved to dead instead, or was one
   * whose cancel its last holder never acted on (it is completed as `Canceled` here); or undefined.
   */
  async #takeOne(): Promise<(JobRequest & { metadataVersion: number }) | 'ended' | undefined> {
    const { rows } = await this.#query<TakenRow>(this.#sql.take, [this.agent, this.#leaseMs]);
    const row = rows[0];
    if (!row) return undefined;
    if (row.state === 'dead') return 'ended';
    if (row.cancelRequested) {
      const reason = `${row.cancelReason ?? 'cancelled through the queue'} (its lease ran out before its agent stopped it)`;
      await this.#query(this.#sql.complete, [
        row.id,
        row.fence,
        'Canceled',
        JSON.stringify({ result: 'Canceled', reason }),
      ]);
      return 'ended';
    }
    return {
      metadataVersion: row.metadataVersion,
      id: row.id,
      job: row.job,
      message: row.message,
      ...(row.metadata && { metadata: row.metadata }),
      lease: row.fence,
    };
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
  cancelRequested: boolean;
  cancelReason: string | null;
  metadataVersion: number;
}

function fenceOf(request: JobRequest): string {
  if (!/^\d{1,18}$/.test(request.lease)) {
    throw new LeaseLostError(request.id, `${JSON.stringify(request.lease)} is not a lease this source gave`);
  }
  return request.lease;
}
