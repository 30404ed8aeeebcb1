// What a Scheduler is given and what it tells: its options and events.
import type { Clock } from '@troupe/transport';
import type { StallError } from '../errors.js';
import type { IdSource } from '../ids.js';
import type { internalSeams } from '../seams.js';
import type { SchedulerHost } from './host.js';
import type { SchedulingPolicy } from './policy.js';
import type { RequestState, ScheduledRequest } from './request.js';
import type { SchedulerRules } from './rules.js';
import type { StallReport } from './stall.js';

export interface SchedulerOptions {
  host: SchedulerHost;
  policy?: SchedulingPolicy;
  /** Largest pool size to grow to, for every pool or per pool name. Default: the nodes added. */
  maxNodes?: number | Readonly<Record<string, number>>;
  /** No progress for this long with every node held and work waiting: a `stall` event. Default 5 s. */
  stallTimeoutMs?: number;
  /** A stall that lasts this much longer fails the run with `StallError`. Default 10 s. */
  stallErrorMs?: number;
  /**
   * Requests sent ahead to each busy node (default 0: none), once its pool is at its full size.
   * A node runs them one at a time: the first staged one starts, on the node and here alike, when
   * the active one leaves (finishes, blocks or yields), so many small requests cost no round trip
   * each. A node with staged requests is granted no continuation until they have all started
   * (MSBuild #13531), and a node with a continuation waiting is staged nothing.
   *
   * `'auto'`: one request, and only behind an active request expected to leave its node within a
   * few milliseconds (its task's stretches on nodes so far average no more than
   * `SHORT_STRETCH_MS`, and it has not run longer): the round trip is hidden where it is a large
   * part of a task, and nothing is committed to wait behind a long or unknown task.
   */
  prefetch?: number | 'auto';
  clock?: Clock;
  ids?: IdSource;
  /** Rules replacing core's (`SCHEDULER_RULES`): the model checker's broken variants only. */
  [internalSeams]?: Partial<SchedulerRules>;
}

export interface SchedulerEvents {
  /** Every request state change, for traces, progress and monitors. */
  transition: [request: ScheduledRequest, from: RequestState | 'new', to: RequestState];
  stall: [report: StallReport];
  /** The stall persisted; every unfinished request failed with this error. */
  'stall.failed': [error: StallError];
  settled: [request: ScheduledRequest];
  /**
   * A restartable request starts again from the start: on `to`, its run on `from` dropped (a
   * restart), or, with `to` undefined, from the queue because its node `from` was lost.
   */
  restarted: [request: ScheduledRequest, from: string | undefined, to: string | undefined];
  /**
   * A request whose node `from` was lost (`error` says how) runs again from the start, after its
   * back-off: `request.retries` is how many of its `retry` attempts it has used now.
   */
  retried: [request: ScheduledRequest, from: string, error: Error];
  /**
   * A request's run held `node` past its `timeoutMs`: it failed with `RequestTimeoutError` and was
   * cancelled there. The node stays held until it answers for the run.
   */
  timedOut: [request: ScheduledRequest, node: string];
}
