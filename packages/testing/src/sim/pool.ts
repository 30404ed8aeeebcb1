import { type ChildProcess, fork } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { type ExploreOptions, type ExploreResult, explore } from './explore.js';
import type { FromWorker, ToWorker } from './pool-protocol.js';
import type { Scenario } from './scenario.js';
import { formatTrace, replay, type Schedule } from './schedule.js';
import type { Violation } from './simulation.js';
import type { Strategy } from './strategies.js';

const entry = new URL('./pool-worker.js', import.meta.url);

export interface ExplorerPoolOptions {
  /** Worker processes. Default: the machine's available parallelism. */
  workers?: number;
  /**
   * Each worker's semi-space (half its young generation), in MiB. Default 96. A schedule builds
   * and drops a whole world (about 1.4 MB of short-lived objects, most of them XState's
   * snapshots), so a worker spends much of its time collecting; a young generation this size
   * collects far less often than V8's default.
   */
  semiSpaceMb?: number;
  /**
   * Node options for the workers, before the pool's own: a loader (`--import tsx`) if scenario
   * modules need one. The caller's own `process.execArgv` is not passed on.
   */
  execArgv?: readonly string[];
}

interface Job {
  readonly onFound: (index: number, schedule: Schedule, violation: Violation) => void;
  readonly onDone: (schedules: number) => void;
  readonly onFailed: (error: Error) => void;
}

/**
 * Explores on every core: worker processes that each run a share of a strategy's schedules, warm
 * across calls (start the pool once, explore many times, `close()` at the end). Processes rather
 * than worker threads: each collects its garbage on its own thread (`--single-threaded-gc`), where
 * threads of one process share V8's collector helpers with every core already busy exploring
 * (measured 5–8% more schedules per second on 2 cores), and a scenario that runs away takes only
 * its worker down. A worker exits when its pool's process goes away.
 *
 * A strategy whose schedules depend only on their index (random walk, PCT: it has a `recipe`)
 * over a scenario that says where to load it from (`module`) is split among the workers, schedule
 * `i` going to worker `i mod n`. The result is the one exploring on one thread would give: with a
 * schedule budget, the same schedules are explored, and the violation reported is the one of the
 * lowest schedule index (workers finish the schedules below it before stopping). Anything else
 * (exhaustive search, which learns from each schedule; a scenario without `module`) is explored on
 * the calling thread.
 */
export class ExplorerPool {
  readonly size: number;
  readonly #workers: ChildProcess[] = [];
  readonly #ready: Promise<void>;
  readonly #jobs = new Map<number, Job>();
  #nextJob = 0;
  #failure: Error | undefined;
  #closed = false;

  constructor(options: ExplorerPoolOptions = {}) {
    const size = options.workers ?? availableParallelism();
    if (!Number.isInteger(size) || size < 1)
      throw new RangeError(`workers must be a positive integer, not ${options.workers}`);
    this.size = size;
    const semiSpaceMb = options.semiSpaceMb ?? 96;
    if (!Number.isInteger(semiSpaceMb) || semiSpaceMb < 1)
      throw new RangeError(`semiSpaceMb must be a positive integer, not ${options.semiSpaceMb}`);
    // Not the caller's own flags: those may be a script to evaluate (-e) or a debugger's port.
    const execArgv = [
      ...(options.execArgv ?? []),
      '--single-threaded-gc',
      `--max-semi-space-size=${semiSpaceMb}`,
    ];
    const ready: Array<Promise<void>> = [];
    for (let i = 0; i < size; i++) {
      const worker = fork(fileURLToPath(entry), [], {
        execArgv,
        serialization: 'advanced',
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      ready.push(
        new Promise((resolve, reject) => {
          worker.once('message', () => resolve());
          worker.once('error', reject);
          worker.once('exit', (code, signal) =>
            reject(new Error(`an explorer worker exited before it was ready (${signal ?? `code ${code}`})`)),
          );
        }),
      );
      worker.on('message', (message: FromWorker) => this.#onMessage(message));
      worker.on('error', (error) => this.#fail(error));
      worker.on('exit', (code, signal) => {
        if (!this.#closed)
          this.#fail(
            new Error(`an explorer worker exited (${signal ?? `code ${code}`}) while the pool was open`),
          );
      });
      this.#workers.push(worker);
    }
    this.#ready = Promise.all(ready).then(() => undefined);
    // A pool that failed to start reports it from `explore`; nobody else is waiting on this.
    this.#ready.catch(() => {});
  }

  /** The worker processes' ids. */
  get pids(): number[] {
    return this.#workers.map((worker) => worker.pid ?? -1);
  }

  /** Like `explore`, on the pool's workers where the strategy and scenario allow it. */
  async explore(
    scenario: Scenario,
    variant: string,
    strategy: Strategy,
    options: ExploreOptions = {},
  ): Promise<ExploreResult> {
    if (this.#closed) throw new Error('the explorer pool is closed');
    const module = scenario.module;
    const recipe = strategy.recipe;
    if (!module || !recipe) return explore(scenario, variant, strategy, options);
    await this.#ready;
    if (this.#failure) throw this.#failure;
    const limit = options.schedules ?? 10_000;
    const timeMs = options.timeMs ?? 10_000;
    const start = performance.now();
    const job = this.#nextJob++;
    let schedules = 0;
    let remaining = this.size;
    let lowest: { index: number; schedule: Schedule; violation: Violation; ms: number } | undefined;
    await new Promise<void>((resolve, reject) => {
      this.#jobs.set(job, {
        onFound: (index, schedule, violation) => {
          if (lowest && lowest.index < index) return;
          lowest = { index, schedule, violation, ms: performance.now() - start };
          this.#broadcast({ type: 'bound', job, index });
        },
        onDone: (count) => {
          schedules += count;
          if (--remaining === 0) resolve();
        },
        onFailed: reject,
      });
      const deadline = Date.now() + timeMs;
      for (const [first, worker] of this.#workers.entries()) {
        const run: ToWorker = {
          type: 'run',
          job,
          module,
          scenario: scenario.name,
          variant,
          recipe,
          first,
          stride: this.size,
          limit,
          deadline,
        };
        worker.send(run);
      }
    }).finally(() => this.#jobs.delete(job));
    const base = { scenario: scenario.name, variant, strategy: strategy.name, schedules };
    if (!lowest) return { ...base, found: false, ms: performance.now() - start };
    const result: ExploreResult = {
      ...base,
      found: true,
      ms: lowest.ms,
      violation: lowest.violation,
      schedule: lowest.schedule,
    };
    if (!(options.replay ?? true)) return result;
    // Replayed here, on the calling thread: the trace and the check that it reproduces.
    const again = await replay(scenario, lowest.schedule);
    return {
      ...result,
      replayed:
        again.violation?.monitor === lowest.violation.monitor &&
        again.violation?.message === lowest.violation.message,
      trace: formatTrace(again),
    };
  }

  /** Ends the workers, and resolves when they have exited. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(
      this.#workers.map(
        (worker) =>
          new Promise<void>((resolve) => {
            if (worker.exitCode !== null || worker.signalCode !== null) {
              resolve();
              return;
            }
            // A worker leaves when its channel closes, after the schedule it is in (the channel
            // is read between steps); one that does not within a second is killed.
            const kill = setTimeout(() => worker.kill('SIGKILL'), 1_000);
            worker.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            if (worker.connected) worker.disconnect();
          }),
      ),
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #broadcast(message: ToWorker): void {
    for (const worker of this.#workers) if (worker.connected) worker.send(message);
  }

  #onMessage(message: FromWorker): void {
    if (message.type === 'ready') return;
    const job = this.#jobs.get(message.job);
    if (!job) return;
    if (message.type === 'found') job.onFound(message.index, message.schedule, message.violation);
    else if (message.type === 'done') job.onDone(message.schedules);
    else job.onFailed(new Error(`an explorer worker failed: ${message.message}`));
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    for (const job of this.#jobs.values()) job.onFailed(error);
  }
}
