import { FINISHED, NO_REQUESTS, type RequestSpec, requestKey, type ScheduledRequest } from './request.js';

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

/**
 * Orders requests just submitted together (`fresh`), which may wait on each other through their
 * declared dependencies, waiters before what they wait on, so priorities can flow down in one
 * pass. Requests submitted earlier never wait on fresh ones, so a cycle can only run through
 * fresh requests: `cycle` is one found among those that could not be ordered (Kahn's algorithm,
 * no recursion: a declared chain may be thousands long).
 */
export function orderDeclared(fresh: readonly ScheduledRequest[]): {
  order: ScheduledRequest[];
  cycle: ScheduledRequest[] | undefined;
} {
  const inFresh = new Set(fresh);
  // How many fresh waiters each fresh request still has before it may be placed.
  const waiting = new Map<ScheduledRequest, number>();
  for (const request of fresh) {
    let count = 0;
    for (const waiter of request.waiters) if (inFresh.has(waiter)) count++;
    waiting.set(request, count);
  }
  const order: ScheduledRequest[] = [];
  for (const request of fresh) if (waiting.get(request) === 0) order.push(request);
  for (let index = 0; index < order.length; index++) {
    for (const dependency of order[index]!.waitingOn) {
      const left = waiting.get(dependency);
      if (left === undefined) continue;
      waiting.set(dependency, left - 1);
      if (left === 1) order.push(dependency);
    }
  }
  if (order.length === fresh.length) return { order, cycle: undefined };
  // Every request left is waited on by another left (its count never reached 0): walking waiters
  // among them must come back round. Written waiter first, as the cycle's error reads.
  const placed = new Set(order);
  const left = new Set(fresh.filter((request) => !placed.has(request)));
  const path: ScheduledRequest[] = [];
  const at = new Map<ScheduledRequest, number>();
  let current = left.values().next().value as ScheduledRequest;
  while (!at.has(current)) {
    at.set(current, path.length);
    path.push(current);
    current = [...current.waiters].find((next) => left.has(next))!;
  }
  return { order, cycle: path.slice(at.get(current)).reverse() };
}

/**
 * The specs to submit for `roots` and the dependencies they declare, each once (by identity,
 * so a graph that shares specs is walked in linear time), with its result-cache key. A spec whose
 * key is `known` is not walked into: its request exists with the dependencies it came with. Every
 * key is made before any request is in, so an input that cannot cross throws first.
 */
export function collectDeclared(
  roots: readonly RequestSpec[],
  known: ReadonlyMap<string, unknown>,
): { specs: RequestSpec[]; keys: Map<RequestSpec, string> } {
  const specs: RequestSpec[] = [];
  const keys = new Map<RequestSpec, string>();
  const visit = (spec: RequestSpec) => {
    if (keys.has(spec)) return;
    keys.set(spec, requestKey(spec));
    specs.push(spec);
  };
  for (const root of roots) visit(root);
  for (let index = 0; index < specs.length; index++) {
    const spec = specs[index]!;
    if (!known.has(keys.get(spec)!)) for (const dependency of spec.deps ?? []) visit(dependency);
  }
  return { specs, keys };
}
