import type { Clock } from '@troupe/transport';
import { LeaseLostError } from '../errors.js';
import type { JobRequest, JobSource } from '../jobs/source.js';
import { duration, integer, type Shape } from '../options.js';
import type { LeaseEvent } from './job-slot.machine.js';

export interface LeaseOptions {
  /** Pause between successful renewals. Default 60 s. */
  renewIntervalMs?: number;
  /** First pause after a failed renewal; doubles per failure. Default 1 s. */
  retryStartMs?: number;
  /** Longest pause between retries. Default 30 s. */
  retryMaxMs?: number;
  /** Failed attempts at the first renewal before giving up (no worker is started). Default 5. */
  firstRenewalAttempts?: number;
}

export const leaseShape: Shape<LeaseOptions> = {
  renewIntervalMs: duration(1),
  retryStartMs: duration(1),
  retryMaxMs: duration(1),
  firstRenewalAttempts: integer(1),
};

/**
 * Keeps one job's lease: renews at once, then every `renewIntervalMs`; a failed renewal is retried
 * with back-off until the lease has run out (or, for the first renewal, `firstRenewalAttempts`
 * times), and then the lease is lost; a `LeaseLostError` loses it at once. Sends `lease.renewed`
 * after the first success and `lease.lost` when it gives up; the returned function stops it.
 * `heard` hears of every attempt.
 */
export function renewLease(
  source: JobSource,
  clock: Clock,
  job: JobRequest,
  options: LeaseOptions,
  send: (event: LeaseEvent) => void,
  heard?: (outcome: 'renewed' | 'failed' | 'lost', error?: Error) => void,
): () => void {
  const interval = options.renewIntervalMs ?? 60_000;
  const retryStart = options.retryStartMs ?? 1_000;
  const retryMax = options.retryMaxMs ?? 30_000;
  const firstAttempts = options.firstRenewalAttempts ?? 5;
  const controller = new AbortController();
  let stopped = false;
  let timer: ReturnType<Clock['setTimeout']> | undefined;
  let renewed = false;
  let expiresAt: number | undefined;
  let failures = 0;
  let retry = retryStart;
  const schedule = (ms: number) => {
    timer = clock.setTimeout(attempt, ms);
  };
  const attempt = () => {
    timer = undefined;
    source.renew(job, controller.signal).then(
      (lease) => {
        if (stopped) return;
        heard?.('renewed');
        expiresAt = lease.expiresAt;
        failures = 0;
        retry = retryStart;
        if (!renewed) {
          renewed = true;
          send({ type: 'lease.renewed' });
        }
        schedule(interval);
      },
      (error: unknown) => {
        if (stopped) return;
        failures++;
        const left = expiresAt === undefined ? 0 : expiresAt - clock.now();
        // A lease taken over by another take (a newer fencing token) never comes back: retrying
        // would only keep a worker running on a job someone else now holds.
        const givingUp = error instanceof LeaseLostError || (renewed ? left <= 0 : failures >= firstAttempts);
        const failure = error instanceof Error ? error : new Error(String(error));
        heard?.(givingUp ? 'lost' : 'failed', failure);
        if (givingUp) {
          stopped = true;
          send({ type: 'lease.lost', error: failure });
          return;
        }
        schedule(renewed ? Math.min(retry, left) : retry);
        retry = Math.min(retry * 2, retryMax);
      },
    );
  };
  attempt();
  return () => {
    stopped = true;
    controller.abort();
    if (timer !== undefined) clock.clearTimeout(timer);
  };
}
