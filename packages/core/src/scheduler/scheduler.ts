// Over 400 lines on purpose: the one owner of the request table. Every move of a request (submit,
// declared graphs, block, finish, cancel, lost nodes, retries, timeouts) is here, so the table,
// the result cache and the graph change together in one file; node assignment, pools, the graph
// algorithms, the back-off and timeout timers (retries.ts, deadlines.ts) are not.
import { type Clock, systemClock } from '@troupe/transport';
import { SafeEmitter } from '@troupe/transport/internal';
import type { WaitFor } from '../errors.js';
import { RequestCancelledError, RequestCycleError, RequestTimeoutError, StallError } from '../errors.js';
import { createIdSource, type IdSource } from '../ids.js';
import { invalid } from '../options.js';
import { internalSeams } from '../seams.js';
import { NodeAssignment } from './assignment.js';
import { Deadlines } from './deadlines.js';
import { addDeclared, dependencyFailure } from './declared.js';
import { findCycle, raisePriority, releaseWaiters, unneeded, unwait, unwaitAll, wait } from './graph.js';
import { forgetGrowthFailures, growthFailed } from './growth.js';
import type { SchedulerHost } from './host.js';
import type { SchedulerEvents, SchedulerOptions } from './options.js';
import { criticalPathFirst, type SchedulingPolicy } from './policy.js';
import { Pools } from './pools.js';
import {
  advance,
  createRequest,
  DEFAULT_POOL,
  FINISHED,
  type RequestSpec,
  type RequestState,
  requestKey,
  type ScheduledRequest,
} from './request.js';
import { Backoffs, canRetry } from './retries.js';
import { SCHEDULER_RULES, type SchedulerRules } from './rules.js';
import type { SchedulerState } from './scheduler.machine.js';
import { settle, whenAllSettled, whenSettled } from './settle.js';
import { StallWatch } from './stall.js';
import { waitFor } from './wait-for.js';

export type { WaitFor } from '../errors.js';
// The scheduler's own types, importable from it wherever they are written.
export type { SchedulerHost } from './host.js';
export type { SchedulerEvents, SchedulerOptions } from './options.js';
export type { StallReport } from './stall.js';

/**
 * MSBuild's scheduler, as a library: requests that depend on each other, on N nodes, where a
 * request that waits (on other requests: `block`; on the world: `yield`) frees its node, and
 * comes back to the same node (its continuation lives there) when that node is free.
 *
 * Pure decision-making: the host carries out `start`, `unblock`, `grant` and `cancel`, and
 * reports back what the nodes did. Time enters only through the clock (stall detection).
 *
 * This class holds the requests: their table and cache, how they move and how they end. Which
 * node runs which is assignment.ts, over the pools and nodes of pools.ts, grown and sent work
 * ahead by growth.ts; the dependency graph is graph.ts; stall detection stall.ts.
 */
export class Scheduler extends SafeEmitter<SchedulerEvents> {
  readonly policy: SchedulingPolicy;
  readonly #host: SchedulerHost;
  readonly #clock: Clock;
  readonly #ids: IdSource;
  readonly #requests = new Map<string, ScheduledRequest>();
  readonly #byKey = new Map<string, ScheduledRequest>();
  readonly #pools: Pools;
  readonly #stall: StallWatch;
  readonly #assignment: NodeAssignment;
  #seq = 0;
  /**
   * Request ids are this scheduler's random prefix and a sequence number: unique across hosts (a
   * reused node serves many), and no random draw per request.
   */
  readonly #idPrefix: string;
  #unfinished = 0;
  #restarts = 0;
  #retries = 0;
  readonly #backoffs: Backoffs;
  readonly #deadlines: Deadlines;
  readonly #rules: Readonly<SchedulerRules>;

  constructor(options: SchedulerOptions) {
    super();
    this.#host = options.host;
    this.#rules = { ...SCHEDULER_RULES, ...options[internalSeams] };
    this.policy = options.policy ?? criticalPathFirst;
    this.#clock = options.clock ?? systemClock;
    this.#ids = options.ids ?? createIdSource();
    this.#pools = new Pools(options.maxNodes, (a, b) => this.policy.compare(a, b));
    const prefetch = options.prefetch ?? 0;
    if (prefetch !== 'auto' && (!Number.isInteger(prefetch) || prefetch < 0))
      throw invalid('prefetch', "a non-negative integer or 'auto'", options.prefetch);
    this.#idPrefix = `${this.#ids.next('req')}.`;
    this.#stall = new StallWatch({
      clock: this.#clock,
      pools: this.#pools,
      requests: () => this.#requests.values(),
      stallTimeoutMs: options.stallTimeoutMs ?? 5_000,
      stallErrorMs: options.stallErrorMs ?? 10_000,
      onStall: (report) => this.emitSafely('stall', report),
      onFailed: () => this.#failStall(),
    });
    this.#backoffs = new Backoffs(this.#clock, (request) => {
      this.#startWaiting(request);
      this.#assignment.dispatch();
    });
    this.#deadlines = new Deadlines(this.#clock, (request) => this.#timedOut(request));
    this.#assignment = new NodeAssignment({
      pools: this.#pools,
      host: this.#host,
      policy: this.policy,
      rules: this.#rules,
      clock: this.#clock,
      stall: this.#stall,
      prefetch,
      move: (request, to) => this.#move(request, to),
      restarted: (request, from, to) => {
        this.#restarts++;
        this.emitSafely('restarted', request, from, to);
      },
      failUnservable: (request, error) => {
        this.#failWith(request, error);
        // It never ran: the failure is its pool's, not its answer, so asking again tries again.
        if (this.#byKey.get(request.key) === request) this.#byKey.delete(request.key);
      },
    });
  }

  get state(): SchedulerState {
    return this.#stall.state;
  }

  /** Requests submitted and not yet completed, failed or cancelled. */
  get unfinished(): number {
    return this.#unfinished;
  }

  /** How many times a request was started again from the start (restarts and lost nodes). */
  get restarts(): number {
    return this.#restarts;
  }

  /** How many times a request ran again because its node was lost (`retry`). */
  get retries(): number {
    return this.#retries;
  }

  get waiting(): number {
    return this.#pools.waiting;
  }

  request(id: string): ScheduledRequest | undefined {
    return this.#requests.get(id);
  }

  /** The request active on each node, for monitors: never more than one per node. */
  activeOn(node: string): ScheduledRequest | undefined {
    return this.#pools.nodes.get(node)?.active;
  }

  get nodes(): readonly string[] {
    return [...this.#pools.nodes.keys()];
  }

  /**
   * What the unfinished requests wait for, down to what holds them, and the cycle of waits if
   * there is one: what a stall reports, and what a simulated world that stopped reports.
   */
  waitFor(): WaitFor {
    return waitFor(this.#requests.values(), this.#pools);
  }

  /**
   * The host could not start `count` of the nodes it was asked to grow by, because of `error`
   * (after its own retries). A pool that has nodes carries on with them and grows no more until
   * every request has finished. A pool with no node, and none on the way, cannot run what waits
   * for it: those requests fail with `error` (and their waiters learn it as any failure), and a
   * request submitted after that may try growing again. Returns how many requests failed now.
   */
  growthFailed(count: number, poolName: string, error: Error): number {
    growthFailed(this.#pools.get(poolName), count, error, this.#unfinished > 0);
    const unfinished = this.#unfinished;
    this.#assignment.dispatch();
    return unfinished - this.#unfinished;
  }

  addNode(id: string, poolName = DEFAULT_POOL): void {
    this.#pools.addNode(id, poolName);
    this.#assignment.dispatch();
  }

  /**
   * A node is gone, and with it the run of every unfinished request whose continuation lived
   * there (running, staged, blocked, yielded). A restartable continuation runs again from the
   * start, as a restart would have; a request with a `retry` attempt left runs again after its
   * back-off; any other fails with `error`. Requests merely waiting for a node are unaffected.
   */
  removeNode(id: string, error: Error): void {
    if (!this.#pools.removeNode(id)) return;
    this.#assignment.batch(() => {
      for (const request of this.#requests.values()) {
        if (request.node !== id || FINISHED.has(request.state)) continue;
        if (request.restartable && (request.state === 'blocked' || request.state === 'ready'))
          this.#assignment.lost(request);
        else if (canRetry(request)) this.#retry(request, error);
        else this.#failWith(request, error);
      }
    });
  }

  /**
   * `request`'s run was lost with its node (`error` says how), and it has an attempt left: it runs
   * again from the start, on any node, after its back-off. A blocked one waits for what its run
   * asked for first (that wait stands in for the back-off), then starts again and finds those
   * results in the cache, as a restartable request does. Whoever waits on it goes on waiting, for
   * the next run's answer.
   */
  #retry(request: ScheduledRequest, error: Error): void {
    const from = request.node!;
    this.#assignment.remove(request, false);
    request.node = undefined;
    request.ranMs = 0;
    request.awaited = undefined;
    request.retries++;
    this.#retries++;
    if (request.state !== 'blocked') this.#move(request, 'retrying');
    this.emitSafely('retried', request, from, error);
    if (request.state === 'retrying') this.#backoffs.start(request);
  }

  /**
   * Submits a request; the same task and input submitted again (while cached) is the same
   * request, built once. Returns the request and a promise of its end.
   */
  submit(spec: RequestSpec, key = requestKey(spec)): ScheduledRequest {
    const known = this.#byKey.get(key);
    if (known) return known;
    if (spec.deps !== undefined && spec.deps.length > 0) return this.#submitDeclared([spec])[0]!;
    const request = this.#create(spec, key);
    this.emitSafely('transition', request, 'new', 'waiting');
    this.#pools.get(request.pool).waiting.push(request);
    this.#assignment.dispatch();
    return request;
  }

  /** Submits several requests, deciding where they run once, after all of them are in. */
  submitAll(specs: readonly RequestSpec[]): ScheduledRequest[] {
    return this.#assignment.batch(() => {
      if (specs.some((spec) => spec.deps !== undefined && spec.deps.length > 0))
        return this.#submitDeclared(specs);
      // Every key first: an input that cannot cross throws before any request of the batch is in.
      const keys = specs.map(requestKey);
      return specs.map((spec, index) => this.submit(spec, keys[index]));
    });
  }

  #create(spec: RequestSpec, key: string): ScheduledRequest {
    const request = createRequest(`${this.#idPrefix}${this.#seq.toString(36)}`, key, spec, this.#seq++);
    this.#requests.set(request.id, request);
    this.#byKey.set(key, request);
    this.#unfinished++;
    return request;
  }

  /**
   * Submits `roots` and the graph of dependencies they declare, as far as it is new: a request
   * already known keeps the dependencies it was first submitted with. Each new request with
   * dependencies is `pending` until they are done; priorities are bottom levels (its cost plus the
   * longest chain of requests that wait on it), set before any of them is queued. A declared
   * cycle fails its members with `RequestCycleError`, and whatever waits on them with them.
   */
  #submitDeclared(roots: readonly RequestSpec[]): ScheduledRequest[] {
    const { requests, fresh, cycle } = addDeclared(roots, {
      known: this.#byKey,
      create: (spec, key) => this.#create(spec, key),
      requeue: this.#requeue,
    });
    const inCycle = new Set(cycle);
    for (const request of fresh) this.emitSafely('transition', request, 'new', request.state);
    for (const request of fresh) {
      if (request.state === 'waiting') this.#pools.get(request.pool).waiting.push(request);
      else if (request.state === 'pending' && !inCycle.has(request)) {
        const failed = request.declared!.find(
          (dependency) => dependency.state !== 'completed' && FINISHED.has(dependency.state),
        );
        if (failed) this.#failWith(request, dependencyFailure(request, failed));
        else if (request.waitingOn.size === 0) this.#startWaiting(request);
      }
    }
    if (cycle) this.#failCycle(cycle);
    this.#assignment.dispatch();
    return requests;
  }

  /**
   * Every request in `cycle` fails with the cycle's error. Its own edges go first, so none fails
   * with another's failure instead; whatever else waits on them fails (or continues) as usual.
   */
  #failCycle(cycle: readonly ScheduledRequest[]): void {
    const error = new RequestCycleError(cycle.map((r) => `${r.id} (${r.spec.task})`));
    for (const member of cycle) for (const other of cycle) unwait(member, other);
    for (const member of cycle) if (!FINISHED.has(member.state)) this.#failWith(member, error);
  }

  /** A pending request's declared dependencies are done: it waits for a node now. */
  #startWaiting(request: ScheduledRequest): void {
    this.#move(request, 'waiting');
    this.#pools.get(request.pool).waiting.push(request);
  }

  /**
   * `parent`, executing, waits on `children` (submitted as needed). Its node is free meanwhile.
   * Children that would close a cycle fail, with every request in the cycle.
   */
  block(parentId: string, specs: readonly RequestSpec[], restartable = false): ScheduledRequest[] {
    const parent = this.#mustBe(parentId, 'executing');
    parent.restartable = restartable;
    const children = this.submitAll(specs);
    parent.awaited = this.#rules.awaitedResults(children);
    const cycle = findCycle(parent, children);
    this.#assignment.releaseNode(parent, 'blocked');
    if (cycle) {
      // The edge that would close the cycle is never added: the graph stays acyclic.
      this.#failCycle(cycle);
    } else {
      for (const child of children) {
        if (FINISHED.has(child.state)) continue;
        wait(parent, child);
        raisePriority(child, (child.spec.cost ?? 1) + parent.priority, this.#requeue);
      }
      if (parent.waitingOn.size === 0) this.#assignment.makeRunnable(parent, 'ready');
    }
    this.#assignment.dispatch();
    return children;
  }

  /** `id`, executing, waits on something outside the runtime; its node is free meanwhile. */
  yield(id: string): void {
    const request = this.#mustBe(id, 'executing');
    this.#assignment.releaseNode(request, 'yielded');
    this.#assignment.dispatch();
  }

  /** `id`, yielded, wants its node back; `host.grant` is called when it has it. */
  reacquire(id: string): void {
    const request = this.#mustBe(id, 'yielded');
    if (this.activeOn(request.node!) === undefined && !this.#rules.reacquireWakesIdleNode(request)) {
      // Only a broken rule: it waits for its node, but nothing will ever hand the node to it.
      this.#move(request, 'reacquiring');
      return;
    }
    this.#assignment.makeRunnable(request, 'reacquiring');
    if (this.#rules.reacquireTakesBusyNode(request)) this.#assignment.grantNow(request);
    this.#assignment.dispatch();
  }

  complete(id: string, value: unknown): void {
    this.#succeed(this.#mustBe(id, 'executing'), value);
    this.#assignment.dispatch();
  }

  fail(id: string, error: Error): void {
    const request = this.#requests.get(id);
    if (!request || FINISHED.has(request.state)) return;
    this.#failWith(request, error);
    this.#assignment.dispatch();
  }

  /**
   * Cancels a request and, with it, every request it waits on that nothing else still needs.
   * Running ones are cancelled on their nodes through the host.
   */
  cancel(id: string, reason: Error = new RequestCancelledError(`request ${id} was cancelled`)): void {
    const request = this.#requests.get(id);
    if (!request || FINISHED.has(request.state)) return;
    const dependencies = [...request.waitingOn];
    this.#withdraw(request, 'cancelled', reason);
    for (const dependency of dependencies) if (unneeded(dependency)) this.cancel(dependency.id, reason);
    this.#assignment.dispatch();
  }

  /** An outside build asks for these requests: none is cancelled by another build's abort meanwhile. */
  hold(requests: readonly ScheduledRequest[]): void {
    for (const request of requests) if (!FINISHED.has(request.state)) request.builds++;
  }

  /**
   * An outside build lets go of these requests (`hold`). With `cancel`, the build was aborted: each
   * request nothing else needs any more (no other build, no waiting request) is cancelled with it.
   */
  release(requests: readonly ScheduledRequest[], cancel?: Error): void {
    for (const request of requests) {
      if (FINISHED.has(request.state)) continue;
      if (request.builds > 0) request.builds--;
      if (cancel && unneeded(request)) this.cancel(request.id, cancel);
    }
  }

  /**
   * The node reports that `requestId`, which this host already ended (cancelled, failed by a
   * stall), has left it (its result, block or yield arrived): the node is free for the next.
   */
  nodeLeft(nodeId: string, requestId: string): void {
    this.#assignment.nodeLeft(nodeId, requestId);
  }

  /** Cancels every unfinished request. */
  cancelAll(reason: Error): void {
    for (const request of [...this.#requests.values()])
      if (!FINISHED.has(request.state)) this.cancel(request.id, reason);
  }

  /** Stops stall detection; call when the run is over. */
  stop(): void {
    this.#stall.stop();
  }

  #mustBe(id: string, state: RequestState): ScheduledRequest {
    const request = this.#requests.get(id);
    if (!request) throw new Error(`unknown request ${id}`);
    if (request.state !== state) throw new Error(`request ${id} is ${request.state}, not ${state}`);
    return request;
  }

  /** Resolves when the request completed, failed or was cancelled. */
  whenSettled(request: ScheduledRequest): Promise<ScheduledRequest> {
    return whenSettled(request);
  }

  /**
   * Resolves when every one of `requests` has completed, failed or was cancelled: one promise
   * for a build of many requests, rather than one each.
   */
  whenAllSettled(requests: readonly ScheduledRequest[]): Promise<void> {
    return whenAllSettled(requests);
  }

  #move(request: ScheduledRequest, to: RequestState): void {
    const from = advance(request, to);
    if (request.spec.timeoutMs !== undefined) {
      if (to === 'executing') this.#deadlines.started(request);
      else if (from === 'executing') this.#deadlines.stopped(request);
    }
    this.emitSafely('transition', request, from, to);
  }

  /**
   * `request`'s run has held its node for its `timeoutMs`: it fails with `RequestTimeoutError`
   * and is cancelled there, holding the node until the node answers for it (the host gives the
   * node `cancelGraceMs` to, after the `timedOut` event, then kills it).
   */
  #timedOut(request: ScheduledRequest): void {
    const node = request.node!;
    this.#withdraw(
      request,
      'failed',
      new RequestTimeoutError(request.id, request.spec.task, node, request.spec.timeoutMs!),
    );
    this.emitSafely('timedOut', request, node);
    this.#assignment.dispatch();
  }

  /**
   * `waiter` no longer waits on `finished`. Blocked, it continues on its node once it waits on
   * nothing (its task sees each result, failures too). Pending, it fails at once if `finished`
   * did not complete (its task never runs), and waits for a node once its dependencies are done.
   */
  readonly #released = (waiter: ScheduledRequest, finished: ScheduledRequest): void => {
    if (waiter.state === 'blocked') {
      if (waiter.waitingOn.size > 0) return;
      // Its node was lost while it waited (restartable, or retried): it starts again, on any node.
      if (waiter.node === undefined) this.#startWaiting(waiter);
      else this.#assignment.makeRunnable(waiter, 'ready');
    } else if (waiter.state === 'pending') {
      if (finished.state !== 'completed') this.#failWith(waiter, dependencyFailure(waiter, finished));
      else if (waiter.waitingOn.size === 0) this.#startWaiting(waiter);
    }
  };

  /** A waiting request's priority rose: its place in its pool's queue may move up. */
  readonly #requeue = (request: ScheduledRequest): void => {
    this.#pools.find(request.pool)?.waiting.improved(request);
  };

  #succeed(request: ScheduledRequest, value: unknown): void {
    this.#assignment.completed(request);
    request.value = value;
    this.#finish(request, 'completed');
  }

  #failWith(request: ScheduledRequest, error: Error): void {
    request.error = error;
    this.#finish(request, 'failed');
  }

  /**
   * The one way the host gives up on a request (a cancel; every request when a stall fails the
   * run): the node that holds its continuation, or has it staged, is told to stop it, and it ends
   * with `reason`. A request running or staged there holds the node until the node answers for it
   * (`nodeLeft`): its task runs on until it notices, and a continuation granted meanwhile would
   * run beside it. Only a cancel asks the rules (`cancelledHoldsNode`: its broken variant is about
   * cancels); a stall's failure always holds the node.
   */
  #withdraw(request: ScheduledRequest, to: 'cancelled' | 'failed', reason: Error): void {
    if (request.node !== undefined && request.state !== 'waiting')
      this.#host.cancel(request, request.node, reason);
    const holdsNode =
      (request.state === 'executing' || request.state === 'staged') &&
      (to === 'failed' || this.#rules.cancelledHoldsNode(request));
    request.error = reason;
    this.#finish(request, to, holdsNode);
  }

  /**
   * The end of a request, its value or error already set: it leaves its node (unless it
   * `holdsNode`: see `#withdraw`), its pool's queue and the graph, and whoever waits on it hears.
   */
  #finish(request: ScheduledRequest, to: 'completed' | 'failed' | 'cancelled', holdsNode = false): void {
    if (request.state === 'retrying' && this.#rules.backoffEndsWithRequest(request))
      this.#backoffs.end(request);
    const slot = this.#assignment.remove(request, holdsNode);
    this.#move(request, to);
    request.awaited = undefined;
    if (slot?.active === request && !holdsNode) this.#assignment.leave(slot);
    if (--this.#unfinished === 0) forgetGrowthFailures(this.#pools);
    // A request's outcome is final for this scheduler, failure as much as success: whoever asks
    // again later (a dependent's ctx.build, another build) gets the same failure rather than a
    // silent rebuild that would give one request two answers. Only a cancelled request leaves the
    // cache: a cancel withdraws the question, it does not answer it, so asking again builds again.
    if (to === 'cancelled' && this.#byKey.get(request.key) === request) this.#byKey.delete(request.key);
    unwaitAll(request);
    this.#stall.progress();
    releaseWaiters(request, this.#released);
    settle(request);
    this.emitSafely('settled', request);
  }

  /** The stall lasted: every unfinished request fails with an error naming who held the nodes. */
  #failStall(): void {
    const report = this.#stall.report();
    const error = new StallError(report.holders, report.waiting, report.waitFor);
    this.emitSafely('stall.failed', error);
    for (const request of [...this.#requests.values()])
      if (!FINISHED.has(request.state)) this.#withdraw(request, 'failed', error);
  }
}
