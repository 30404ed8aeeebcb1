import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import {
  type ExploreOptions,
  type ExploreResult,
  explore,
  formatTrace,
  replay,
  type Scenario,
  type Schedule,
  type Strategy,
} from './explore.js';
import type { FromWorker, ToWorker } from './pool-protocol.js';
import type { Violation } from './simulation.js';

const entry = new URL('./pool-worker.js', import.meta.url);

export interface ExplorerPoolOptions {
  /** Worker threads. Default: the machine's available parallelism. */
  workers?: number;
}

interface Job {
  readonly onFound: (index: number, schedule: Schedule, violation: Violation) => void;
  readonly onDone: (schedules: number) => void;
  readonly onFailed: (error: Error) => void;
}

/**
 * Explores on every core: worker threads that each run a share of a strategy's schedules, warm
 * across calls (start the pool once, explore many times, `close()` at the end).
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
  readonly #workers: Worker[] = [];
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
    const ready: Array<Promise<void>> = [];
    for (let i = 0; i < size; i++) {
      const worker = new Worker(entry);
      ready.push(
        new Promise((resolve, reject) => {
          worker.once('message', () => resolve());
          worker.once('error', reject);
        }),
      );
      worker.on('message', (message: FromWorker) => this.#onMessage(message));
      worker.on('error', (error) => this.#fail(error));
      worker.on('exit', (code) => {
        if (!this.#closed) this.#fail(new Error(`an explorer worker exited with code ${code}`));
      });
      this.#workers.push(worker);
    }
    this.#ready = Promise.all(ready).then(() => undefined);
    // A pool that failed to start reports it from `explore`; nobody else is waiting on this.
    this.#ready.catch(() => {});
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
        worker.postMessage(run);
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

  /** Ends the workers. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(this.#workers.map((worker) => worker.terminate()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #broadcast(message: ToWorker): void {
    for (const worker of this.#workers) worker.postMessage(message);
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
