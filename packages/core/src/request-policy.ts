// What a request may say about its runs beyond its task and input: how often it may run again when
// its node is lost (`retry`) and how long one run may hold its node (`timeoutMs`). Their rules are
// here, shared by where a policy is written (defineTask, a request: a TypeError) and where one
// arrives from a peer (BuildBlocked: a malformed packet).

/**
 * Runs of a request after the first, when the node that holds it is lost (`TaskDefinition.retry`):
 * at most `attempts` more, each after `backoffMs` (default 0).
 */
export interface RetryPolicy {
  attempts: number;
  backoffMs?: number;
}

/** Bounds that keep a retry policy from a peer (or a typo) from holding a build for ever. */
const MAX_ATTEMPTS = 100;
const MAX_BACKOFF_MS = 3_600_000;

/** Why `value` is not a retry policy, or undefined when it is one. */
export function retryProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'it must be an object { attempts, backoffMs? }';
  const { attempts, backoffMs } = value as Record<string, unknown>;
  if (!Number.isInteger(attempts) || (attempts as number) < 0 || (attempts as number) > MAX_ATTEMPTS)
    return `attempts must be an integer from 0 to ${MAX_ATTEMPTS}`;
  if (
    backoffMs !== undefined &&
    (typeof backoffMs !== 'number' ||
      !Number.isFinite(backoffMs) ||
      backoffMs < 0 ||
      backoffMs > MAX_BACKOFF_MS)
  )
    return `backoffMs must be a number of milliseconds from 0 to ${MAX_BACKOFF_MS}`;
  return undefined;
}

/** The longest `timeoutMs`: what one timer can wait (about 24.8 days). */
export const MAX_TIMEOUT_MS = 2_147_483_647;

/** Why `value` is not a request timeout, or undefined when it is one. */
export function timeoutProblem(value: unknown): string | undefined {
  return typeof value === 'number' && value > 0 && value <= MAX_TIMEOUT_MS
    ? undefined
    : `it must be a number of milliseconds above 0, at most ${MAX_TIMEOUT_MS}`;
}
