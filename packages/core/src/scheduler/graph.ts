import { FINISHED, NO_REQUESTS, type ScheduledRequest } from './request.js';

// The dependency graph between requests: who waits on whom, the critical-path priorities that
// flow along it, and the cycles it refuses. The scheduler owns when the edges change; this file
// owns what a change does to the graph.

/** `waiter` now waits on `dependency`. */
export function wait(waiter: ScheduledRequest, dependency: ScheduledRequest): void {
  if (waiter.waitingOn === NO_REQUESTS) waiter.waitingOn = new Set();
  if (dependency.waiters === NO_REQUESTS) dependency.waiters = new Set();
  (waiter.waitingOn as Set<ScheduledRequest>).add(dependency);
  (dependency.waiters as Set<ScheduledRequest>).add(waiter);
}

/** `waiter` waits on nothing any more. */
export function unwaitAll(waiter: ScheduledRequest): void {
  for (const dependency of waiter.waitingOn)
    if (dependency.waiters !== NO_REQUESTS) (dependency.waiters as Set<ScheduledRequest>).delete(waiter);
  waiter.waitingOn = NO_REQUESTS;
}

/** `waiter` no longer waits on `dependency`. */
export function unwait(waiter: ScheduledRequest, dependency: ScheduledRequest): void {
  if (waiter.waitingOn !== NO_REQUESTS) (waiter.waitingOn as Set<ScheduledRequest>).delete(dependency);
  if (dependency.waiters !== NO_REQUESTS) (dependency.waiters as Set<ScheduledRequest>).delete(waiter);
}

/**
 * `finished` has ended: nothing waits on it any more. `onReleased` hears of each waiter as soon as
 * it no longer waits on `finished` (it may continue, start, or fail because `finished` did).
 */
export function releaseWaiters(
  finished: ScheduledRequest,
  onReleased: (waiter: ScheduledRequest, finished: ScheduledRequest) => void,
): void {
  if (finished.waiters.size === 0) return;
  for (const waiter of [...finished.waiters]) {
    unwait(waiter, finished);
    onReleased(waiter, finished);
  }
}

/** Nothing needs `request` any more: no request waits on it and no outside build holds it. */
export function unneeded(request: ScheduledRequest): boolean {
  return request.waiters.size === 0 && request.builds === 0;
}

/**
 * A request's priority is its cost plus the longest chain waiting on it; it only rises, and the
 * rise flows on to what it waits on. `requeue` hears of each request whose priority rose (its
 * place in a queue of waiting requests may have moved).
 */
export function raisePriority(
  request: ScheduledRequest,
  priority: number,
  requeue: (request: ScheduledRequest) => void,
): void {
  if (priority <= request.priority || FINISHED.has(request.state)) return;
  request.priority = priority;
  requeue(request);
  for (const dependency of request.waitingOn)
    raisePriority(dependency, (dependency.spec.cost ?? 1) + priority, requeue);
}

/** Would `parent` waiting on `children` close a cycle? Returns the cycle, parent first. */
export function findCycle(
  parent: ScheduledRequest,
  children: readonly ScheduledRequest[],
): ScheduledRequest[] | undefined {
  const seen = new Set<ScheduledRequest>();
  const path: ScheduledRequest[] = [];
  const visit = (request: ScheduledRequest): boolean => {
    if (request === parent) return true;
    if (seen.has(request) || FINISHED.has(request.state)) return false;
    seen.add(request);
    path.push(request);
    for (const next of request.waitingOn) if (visit(next)) return true;
    path.pop();
    return false;
  };
  for (const child of children) {
    if (visit(child)) return [parent, ...path, parent];
  }
  return undefined;
}
