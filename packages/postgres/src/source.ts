// `PostgresJobSource`: a `JobSource` on a PostgreSQL table that many agents share. A take leases
// one job (FOR UPDATE SKIP LOCKED, by priority then age) and raises its fencing token; renew and
// complete present that token and are refused once another take has raised it. Lease expiry is
// the database's `now()`, so agents' clocks never decide who holds a job. Over 400 lines because
// the lease's whole life (take, renew, complete, give back, cancel, metadata, and why a token was
// refused) reads and writes the same rows under the same rules; the SQL (statements.ts), the
// controls (controls.ts), batching (batch.ts), jobs taken ahead (prefetch.ts), the row types
// (rows.ts) and wake-ups (wakeups.ts) live apart.
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
import { Batcher } from './batch.js';
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
import { Prefetched } from './prefetch.js';
import { type Completing, fenceOf, requestOf, type Taken, type TakenRow } from './rows.js';
import { type QueueNames, queueNames } from './schema.js';
import { type QueueStatements, queueStatements } from './statements.js';
import { abortable, isTransient, retrying } from './transient.js';
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
  /** Each statement's name on the connections that prepared it (prepared once per connection). */
  readonly #prepared: Map<string, string>;
  /** Concurrent takes, as one query (batch.ts). */
  readonly #takes = new Batcher<void, Taken | 'ended'>((askers) => this.#takeSome(askers.length));
  /** Concurrent completions, as one statement that also takes for the slots they free. */
  readonly #completions = new Batcher<Completing, boolean>((asked) => this.#completeSome(asked));
  /** Concurrent renewals, as one statement. */
  readonly #renewals = new Batcher<{ id: string; fence: string }, boolean>((asked) => this.#renewSome(asked));
  /** Jobs completions took for the takes that follow them; given back if no take claims one. */
  readonly #prefetched: Prefetched<Taken>;
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
    this.#controlSql = controlStatements(this.#names);
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
      control: {
        channel: this.#names.controlChannel,
        quoted: this.#names.quotedControlChannel,
        heard: (id) => this.#held.heard(id),
      },
    });
    this.#prefetched = new Prefetched({
      clock: this.#clock,
      claimMs: this.#pollMs,
      unclaimed: (taken) => this.#unclaimed(taken),
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
    this.#prefetched.taking(signal);
    const early = this.#prefetched.claim();
    if (early) return requestOf(early);
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
        if (taken === 'ended') continue;
        if (taken && !signal?.aborted) {
          this.#hold(taken, askedAt);
          return requestOf(taken);
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
    // Renewals asked for at once (an agent's slots, renewed on the same interval) are one statement.
    if (!(await this.#renewals.one({ id: request.id, fence }))) {
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
    this.#fresh.delete(request.id);
    // A database that is away for a while must not lose the result: the report is retried with
    // back-off for as long as a lease lasts; the token keeps a late one from counting twice. The
    // first attempt goes with the completions asked for at once, in one statement that also takes
    // for the slots they free (complete-and-take); a retry only completes (what a failed attempt
    // took, if it committed all the same, comes back when its lease runs out).
    let attempts = 0;
    const completed = await this.#retrying(async () => {
      attempts++;
      const values = [request.id, fence, completion.result, JSON.stringify(completion)];
      if (attempts === 1) return this.#completions.one({ id: request.id, fence, completion });
      return (await this.#query(this.#sql.complete, values)).rowCount === 1;
    });
    if (completed) return;
    // An attempt that failed may have committed all the same, its answer lost with the connection:
    // the job then holds this very token and result, and the report did land, once.
    if (attempts > 1 && (await this.#landed(request.id, fence, completion.result))) return;
    throw await this.#refusal(request, fence, 'complete');
  }

  /** Whether job `id` was completed under token `fence` with `result` (an earlier report of ours). */
  async #landed(id: string, fence: string, result: string): Promise<boolean> {
    const { rows } = await this.#query<{ state: string; fence: string; result: string | null }>(
      this.#sql.holder,
      [id],
    );
    const row = rows[0];
    return row?.state === 'completed' && row.fence === fence && row.result === result;
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
      await this.#prefetched.drain();
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
  #retrying<T>(attempt: () => Promise<T>): Promise<T> {
    return retrying(attempt, {
      clock: this.#clock,
      forMs: this.#leaseMs,
      maxBackoffMs: this.#pollMs,
      stopped: () => this.#closed !== undefined,
      warn: (error) => this.emit('warning', error),
    });
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
   * Up to `count` takes in one query, by priority then age: each a leased job, or 'ended' where
   * the job found was moved to dead instead, or was one whose cancel its last holder never acted
   * on (it is completed as `Canceled` here). Fewer when the queue holds fewer.
   */
  async #takeSome(count: number): Promise<Array<Taken | 'ended'>> {
    const { rows } = await this.#query<TakenRow>(this.#sql.take, [this.agent, this.#leaseMs, count]);
    return this.#settle(rows);
  }

  /** The rows a take returned, best first, each a job leased here or 'ended' (see `#takeSome`). */
  #settle(rows: TakenRow[]): Promise<Array<Taken | 'ended'>> {
    rows.sort((a, b) => b.priority - a.priority || (BigInt(a.seq) < BigInt(b.seq) ? -1 : 1));
    return Promise.all(
      rows.map(async (row) => {
        if (row.state === 'dead') return 'ended' as const;
        if (row.cancelRequested) {
          const reason = `${row.cancelReason ?? 'cancelled through the queue'} (its lease ran out before its agent stopped it)`;
          await this.#query(this.#sql.complete, [
            row.id,
            row.fence,
            'Canceled',
            JSON.stringify({ result: 'Canceled', reason }),
          ]);
          return 'ended' as const;
        }
        return {
          metadataVersion: row.metadataVersion,
          id: row.id,
          job: row.job,
          message: row.message,
          ...(row.metadata && { metadata: row.metadata }),
          lease: row.fence,
        };
      }),
    );
  }

  /** Held by this agent from now: its controls are watched, and its first renewal is the take's. */
  #hold(taken: Taken, askedAt: number): void {
    this.#held.hold(taken.id, taken.lease, taken.metadataVersion);
    this.#fresh.set(taken.id, { fence: taken.lease, askedAt });
  }

  /** What a complete-and-take took (`askedAt`: when it was sent), kept for the next takes. */
  async #keep(rows: TakenRow[], askedAt: number): Promise<void> {
    for (const taken of await this.#settle(rows.filter((row) => row.id !== null))) {
      if (taken === 'ended') continue;
      this.#hold(taken, askedAt);
      if (this.#closed) await this.#unclaimed(taken);
      else this.#prefetched.keep(taken);
    }
  }

  /** A prefetched job no take claimed goes back to the queue, uncounted, for any agent. */
  async #unclaimed(taken: Taken): Promise<void> {
    this.#fresh.delete(taken.id);
    this.#held.release(taken.id, taken.lease);
    try {
      await this.#giveBack(taken);
      // Nobody is told by the database (the give back is no insert): this agent's takes look again.
      this.#wakeups.nudge();
    } catch (error) {
      // Its lease runs out and brings it back all the same.
      this.emit('warning', error as Error);
    }
  }

  /**
   * Completes `asked` in one statement and, while a dispatcher takes (its slots take again as soon
   * as they have reported; not while it stops), takes as many jobs for the takes that follow.
   * Says which completions applied; a job asked twice at once applies its first only.
   */
  async #completeSome(asked: Completing[]): Promise<boolean[]> {
    const first = new Map<string, Completing>();
    for (const completing of asked) if (!first.has(completing.id)) first.set(completing.id, completing);
    const askedAt = this.#clock.now();
    const { rows } = await this.#query<TakenRow & { completed: string[] }>(this.#sql.completeAndTake, [
      this.agent,
      this.#leaseMs,
      this.#prefetched.wanted ? asked.length : 0,
      JSON.stringify(
        [...first.values()].map(({ id, fence, completion }) => ({
          id,
          fence,
          result: completion.result,
          completion,
        })),
      ),
    ]);
    await this.#keep(rows, askedAt);
    const applied = new Set(rows[0]?.completed);
    return asked.map((completing) => applied.has(completing.id) && first.get(completing.id) === completing);
  }

  /** Which of `asked` the database renewed, in one statement. */
  async #renewSome(asked: Array<{ id: string; fence: string }>): Promise<boolean[]> {
    const { rows } = await this.#query<{ id: string; fence: string }>(this.#sql.renewMany, [
      asked.map((lease) => lease.id),
      asked.map((lease) => lease.fence),
      this.#leaseMs,
    ]);
    const renewed = new Set(rows.map((row) => `${row.fence}:${row.id}`));
    return asked.map((lease) => renewed.has(`${lease.fence}:${lease.id}`));
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
