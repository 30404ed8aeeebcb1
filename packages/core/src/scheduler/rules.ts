import type { ScheduledRequest } from './request.js';

/**
 * The scheduler's decisions about who holds a node, and what a blocked request is handed back.
 * Core's rules are `SCHEDULER_RULES`; a broken variant of the model checker replaces one (through
 * `[internalSeams]`, from `@troupe/core/internal`) to prove the checker finds the bug it
 * re-creates. Nothing else sets them.
 */
export interface SchedulerRules {
  /**
   * A yielded request asks for its node back while another request is active there: whether it
   * takes the node at once (the active one loses it) rather than waiting for the node to be free.
   */
  reacquireTakesBusyNode(request: ScheduledRequest): boolean;
  /**
   * The active request left a node that has requests staged and a continuation waiting: whether
   * the first staged request starts, as the node itself starts it at that moment, rather than the
   * node being left free for the continuation (MSBuild #13531).
   */
  stagedStartsFirst(node: string): boolean;
  /**
   * A request running (or staged) on a node was cancelled here: whether it holds the node until
   * the node answers for it (the task runs on until it notices the cancel).
   */
  cancelledHoldsNode(request: ScheduledRequest): boolean;
  /**
   * The requests whose results a blocked request is handed when it continues, from the requests
   * it asked for (`children`, in its order; some may have finished before it asked).
   */
  awaitedResults(children: readonly ScheduledRequest[]): readonly ScheduledRequest[];
  /**
   * A ready restartable continuation is started again on another node: whether its first run is
   * dropped (Restart to its old node) rather than left to go on there too.
   */
  restartDropsFirstRun(request: ScheduledRequest): boolean;
  /**
   * A request waiting out its retry back-off ended (cancelled, or failed with the run): whether
   * its back-off timer ends with it, rather than firing later into a request that is over.
   */
  backoffEndsWithRequest(request: ScheduledRequest): boolean;
  /**
   * A yielded request asks for its node back while that node is free: whether it joins the
   * node's continuations (and so takes the node at once), rather than being left to wait for a
   * wakeup that never comes.
   */
  reacquireWakesIdleNode(request: ScheduledRequest): boolean;
}

/** Core's rules. Frozen: a test that wants others passes them to one scheduler, not to the process. */
export const SCHEDULER_RULES: Readonly<SchedulerRules> = Object.freeze({
  reacquireTakesBusyNode: () => false,
  stagedStartsFirst: () => true,
  cancelledHoldsNode: () => true,
  awaitedResults: (children: readonly ScheduledRequest[]) => children,
  restartDropsFirstRun: () => true,
  backoffEndsWithRequest: () => true,
  reacquireWakesIdleNode: () => true,
});
