// Declared dependencies: how a graph of requests that name their dependencies up front joins the
// scheduler's graph (new requests, their edges, their bottom-level priorities, the cycle it may
// hold), and why a request fails when one of them does. The scheduler owns when; this owns how.
import { DependencyFailedError, RequestCancelledError } from '../errors.js';
import { specGraph } from '../packets.js';
import { raisePriority, wait } from './graph.js';
import { FINISHED, type RequestSpec, requestKey, type ScheduledRequest } from './request.js';

export interface DeclaredGraphHost {
  /** Requests already known, by result-cache key: they are not made again. */
  readonly known: ReadonlyMap<string, ScheduledRequest>;
  /** Makes (and registers) a new request: `pending` if it declares dependencies, else `waiting`. */
  create(spec: RequestSpec, key: string): ScheduledRequest;
  /** A known request's priority rose (its place in a queue may move). */
  requeue(request: ScheduledRequest): void;
}

/**
 * Adds `roots` and the graph they declare, as far as it is new: each new request with its edges
 * to what it declares, and every new request's priority its bottom level (its cost plus the
 * longest chain of requests waiting on it), set before any of them is queued. Known requests keep
 * the dependencies they came with; their priorities rise as waiting on them demands. Returns the
 * roots' requests, the new ones (in the order they were found), and a cycle among the new ones if
 * there is one (its members still have their edges; nothing is queued or failed here).
 */
export function addDeclared(
  roots: readonly RequestSpec[],
  host: DeclaredGraphHost,
): { requests: ScheduledRequest[]; fresh: ScheduledRequest[]; cycle: ScheduledRequest[] | undefined } {
  const { specs, keys } = collectDeclared(roots, host.known);
  const bySpec = new Map<RequestSpec, ScheduledRequest>();
  const fresh: ScheduledRequest[] = [];
  for (const spec of specs) {
    const key = keys.get(spec)!;
    let request = host.known.get(key);
    if (!request) {
      request = host.create(spec, key);
      fresh.push(request);
    }
    bySpec.set(spec, request);
  }
  for (const request of fresh) {
    if (request.state !== 'pending') continue;
    request.declared = request.spec.deps!.map((dep) => bySpec.get(dep)!);
    for (const dependency of request.declared) if (!FINISHED.has(dependency.state)) wait(request, dependency);
  }
  const { order, cycle } = orderDeclared(fresh);
  const isFresh = new Set(fresh);
  for (const waiter of order) {
    for (const dependency of waiter.waitingOn) {
      const priority = (dependency.spec.cost ?? 1) + waiter.priority;
      // A fresh one comes later in the order, and passes its priority on itself then.
      if (isFresh.has(dependency)) dependency.priority = Math.max(dependency.priority, priority);
      else raisePriority(dependency, priority, host.requeue);
    }
  }
  return { requests: roots.map((spec) => bySpec.get(spec)!), fresh, cycle };
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
 * The specs to submit for `roots` and the dependencies they declare (`specGraph`: each once by
 * identity, roots in place), with its result-cache key. A spec whose
 * key is `known` is not walked into: its request exists with the dependencies it came with. Every
 * key is made before any request is in, so an input that cannot cross throws first.
 */
export function collectDeclared(
  roots: readonly RequestSpec[],
  known: ReadonlyMap<string, unknown>,
): { specs: RequestSpec[]; keys: Map<RequestSpec, string> } {
  const keys = new Map<RequestSpec, string>();
  const keyOf = (spec: RequestSpec) => {
    let key = keys.get(spec);
    if (key === undefined) {
      key = requestKey(spec);
      keys.set(spec, key);
    }
    return key;
  };
  const { specs } = specGraph(roots, (spec) => !known.has(keyOf(spec)));
  for (const spec of specs) keyOf(spec);
  return { specs, keys };
}

/** Why `waiter` fails without running: its declared dependency `dependency` did not complete. */
export function dependencyFailure(
  waiter: ScheduledRequest,
  dependency: ScheduledRequest,
): DependencyFailedError {
  const error = dependency.error ?? new RequestCancelledError(`request ${dependency.id} ${dependency.state}`);
  const chain = (error as { chain?: readonly string[] }).chain ?? [];
  const cause = error instanceof DependencyFailedError && error.cause instanceof Error ? error.cause : error;
  return new DependencyFailedError(waiter.id, [dependency.id, ...chain], cause);
}
