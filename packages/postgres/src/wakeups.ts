// What wakes a source's waiting takes: a NOTIFY on the queue's channel (every insert into the jobs
// table sends one), heard on one connection of its own, or else a timer (the slow poll, or the
// next lease expiry). A take reads `generation` before it looks for a job and waits only while it
// has not moved, so a notification that arrives during the look is never missed. The same
// connection hears the control channel (cancels and metadata updates of leased jobs).
import type { Clock } from '@troupe/core';
import pg from 'pg';

export interface WakeupsOptions {
  readonly connection: pg.ClientConfig;
  /** Quoted, for LISTEN. */
  readonly channel: string;
  readonly clock: Clock;
  /** The longest pause before reconnecting a lost listener. */
  readonly maxBackoffMs: number;
  /** A listener connection failed (it is reconnected with back-off). */
  readonly warn: (error: Error) => void;
  /** A second channel, for cancels and metadata updates: its name unquoted and quoted. */
  readonly control?: {
    readonly channel: string;
    readonly quoted: string;
    /** A notification on it (its payload), or `undefined` after a (re)connection: look at everything. */
    readonly heard: (payload: string | undefined) => void;
  };
}

export class Wakeups {
  /** Moves on every notification and every (re)connection (notifications may have been missed). */
  #generation = 0;
  readonly #waiters = new Set<() => void>();
  readonly #options: WakeupsOptions;
  #client: pg.Client | undefined;
  #listening: Promise<void> | undefined;
  #retry: unknown;
  #backoffMs = 100;
  #closed = false;

  constructor(options: WakeupsOptions) {
    this.#options = options;
  }

  get generation(): number {
    return this.#generation;
  }

  /** Starts listening (once); resolves when LISTEN took effect or the first attempt failed. */
  listen(): Promise<void> {
    this.#listening ??= this.#connect();
    return this.#listening;
  }

  /**
   * Resolves when the generation moves past `since`, after `ms`, or at `close()`; rejects with
   * the signal's reason on abort. Its timer and listener are gone when it settles.
   */
  wait(since: number, ms: number, signal?: AbortSignal): Promise<void> {
    if (this.#generation !== since || this.#closed) return Promise.resolve();
    signal?.throwIfAborted();
    const { clock } = this.#options;
    return new Promise((resolve, reject) => {
      const done = () => {
        clock.clearTimeout(timer);
        this.#waiters.delete(done);
        signal?.removeEventListener('abort', onAbort);
      };
      const wake = () => {
        done();
        resolve();
      };
      const onAbort = () => {
        done();
        reject(signal?.reason);
      };
      const timer = clock.setTimeout(wake, ms);
      this.#waiters.add(wake);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Wakes this source's waiting takes, as a notification would (something came back to the queue). */
  nudge(): void {
    this.#wakeAll();
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#retry !== undefined) this.#options.clock.clearTimeout(this.#retry);
    this.#wakeAll();
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => {});
  }

  #wakeAll(): void {
    this.#generation++;
    for (const wake of [...this.#waiters]) wake();
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    const client = new pg.Client(this.#options.connection);
    this.#client = client;
    let lost = false;
    const onLost = (error: Error) => {
      if (lost || this.#client !== client) return;
      lost = true;
      this.#client = undefined;
      client.end().catch(() => {});
      if (this.#closed) return;
      this.#options.warn(error);
      this.#retry = this.#options.clock.setTimeout(() => {
        this.#retry = undefined;
        void this.#connect();
      }, this.#backoffMs);
      this.#backoffMs = Math.min(this.#backoffMs * 2, this.#options.maxBackoffMs);
    };
    client.on('error', onLost);
    client.on('end', () => onLost(new Error('the listening connection ended')));
    const { control } = this.#options;
    client.on('notification', (message) => {
      if (control && message.channel === control.channel) control.heard(message.payload);
      else this.#wakeAll();
    });
    try {
      await client.connect();
      await client.query(`listen ${this.#options.channel}`);
      if (control) await client.query(`listen ${control.quoted}`);
      this.#backoffMs = 100;
      // Whatever was added (or asked of held jobs) while nobody listened is looked for now.
      this.#wakeAll();
      control?.heard(undefined);
    } catch (error) {
      onLost(error instanceof Error ? error : new Error(String(error)));
    }
  }
}
