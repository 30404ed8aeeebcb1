// What the bench's no-op jobs did, whichever queue ran them: each job's key, how many times it
// ran, and when it started and ended (on this process's clock; the bench measures real time).
// The troupe job (workers/jobs.mjs) runs in an in-process worker that may load its own copy of a
// module, so the ledger is found under a registered symbol on globalThis, never by import.

const key = Symbol.for('troupe.bench.jobs.ledger');

export class Ledger {
  /** How many times each key ran. */
  readonly runs = new Map<string, number>();
  readonly #startedAt = new Map<string, number>();
  #firstStart = Number.POSITIVE_INFINITY;
  #lastEnd = 0;
  #ended = 0;
  #waiters: Array<{ count: number; resolve: () => void }> = [];
  #onStart: ((key: string, at: number) => void) | undefined;

  /** A job begins: called first thing by every queue's handler. */
  started(job: string): void {
    const at = performance.now();
    this.runs.set(job, (this.runs.get(job) ?? 0) + 1);
    this.#startedAt.set(job, at);
    this.#firstStart = Math.min(this.#firstStart, at);
    this.#onStart?.(job, at);
  }

  /** A job's code returns. */
  ended(_job: string): void {
    this.#lastEnd = performance.now();
    this.#ended++;
    this.#waiters = this.#waiters.filter((waiter) => {
      if (this.#ended < waiter.count) return true;
      waiter.resolve();
      return false;
    });
  }

  /** Forgets everything, before a new measurement. */
  reset(): void {
    this.runs.clear();
    this.#startedAt.clear();
    this.#firstStart = Number.POSITIVE_INFINITY;
    this.#lastEnd = 0;
    this.#ended = 0;
    this.#onStart = undefined;
  }

  /** From the first job's start to the last one's end, in ms. */
  get spanMs(): number {
    return this.#lastEnd - this.#firstStart;
  }

  /** Resolves once `count` jobs have ended; rejects after `timeoutMs` saying how many did. */
  async whenEnded(count: number, timeoutMs: number): Promise<void> {
    if (this.#ended >= count) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        new Promise<void>((resolve) => this.#waiters.push({ count, resolve })),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`only ${this.#ended} of ${count} jobs ended within ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resolves with the time `job` starts at; rejects after `timeoutMs`. One waiter at a time. */
  startOf(job: string, timeoutMs: number): Promise<number> {
    const seen = this.#startedAt.get(job);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#onStart = undefined;
        reject(new Error(`job ${job} did not start within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#onStart = (started, at) => {
        if (started !== job) return;
        clearTimeout(timer);
        this.#onStart = undefined;
        resolve(at);
      };
    });
  }
}

export function ledger(): Ledger {
  const global = globalThis as { [key]?: Ledger };
  global[key] ??= new Ledger();
  return global[key];
}
