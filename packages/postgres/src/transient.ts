// Failures worth waiting out (the database restarting, a connection cut), a retry loop for them,
// and a promise that gives way to an abort signal: what the source's retries are made of.
import type { Clock } from '@troupe/core';

/** SQLSTATE classes of errors worth retrying: connection, resources, operator intervention. */
const TRANSIENT = /^(08|53|57)/;

/** Whether `error` is a failure of the connection or the server's state, not of the query. */
export function isTransient(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  // A system error of the socket: refused, reset, unreachable.
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return true;
  if (typeof code === 'string' && code.length === 5) return TRANSIENT.test(code);
  return typeof message === 'string' && /connection (terminated|timeout)|connection error/i.test(message);
}

/** `promise`, or the signal's reason as soon as it aborts (the work itself goes on). */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
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

export interface RetryingOptions {
  readonly clock: Clock;
  /** How long to go on trying, from the first attempt. */
  readonly forMs: number;
  readonly maxBackoffMs: number;
  /** Whether to give up at once (the source was closed). */
  readonly stopped: () => boolean;
  /** Each transient failure that is retried. */
  readonly warn: (error: Error) => void;
}

/** `attempt` again after transient failures, with back-off from 50 ms, for up to `forMs`. */
export async function retrying<T>(attempt: () => Promise<T>, options: RetryingOptions): Promise<T> {
  const { clock } = options;
  const deadline = clock.now() + options.forMs;
  let backoffMs = 50;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (options.stopped() || !isTransient(error) || clock.now() + backoffMs > deadline) throw error;
      options.warn(error as Error);
      await new Promise<void>((resolve) => clock.setTimeout(() => resolve(), backoffMs));
      backoffMs = Math.min(backoffMs * 2, options.maxBackoffMs);
    }
  }
}
