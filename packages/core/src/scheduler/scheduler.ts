import { type Clock, systemClock } from '@troupe/transport';
import {
  machineInspector,
  reportUnhandledError,
  SafeEmitter,
  sendIfActive,
} from '@troupe/transport/internal';
import { type Actor, createActor } from 'xstate';
import { RequestCancelledError, RequestCycleError, StallError, type StallHolder } from '../errors.js';
import { createIdSource, type IdSource } from '../ids.js';
import { internalSeams } from '../seams.js';
import { criticalPathFirst, type SchedulingPolicy } from './policy.js';
import { WaitingQueue } from './queue.js';
import {
  advance,
  FINISHED,
  NO_REQUESTS,
  type RequestSpec,
  type RequestState,
  requestKey,
  type ScheduledRequest,
  unwait,
  unwaitAll,
  wait,
} from './request.js';
import { SCHEDULER_RULES, type SchedulerRules } from './rules.js';
import {
  provideSchedulerMachine,
  type SchedulerMachineEvent,
  type SchedulerState,
  schedulerMachine,
} from './scheduler.machine.js';

/** What the scheduler asks of the runtime that carries its decisions to the nodes. */
export interface SchedulerHost {
  /** Start a request on a node. */
  start(request: ScheduledRequest, node: string): void;
  /**
   * A blocked request may continue on its node: the requests it waited for (`request.awaited`,
   * in the order it asked for them) have finished.
   */
  unblock(request: ScheduledRequest, node: string): void;
  /** A yielded request has its node back. */
  grant(request: ScheduledRequest, node: string): void;
  /** Stop a request that is running (or parked) on a node. */
  cancel(request: ScheduledRequest, node: string, reason: Error): void;
  /** More nodes of `pool` would help; call `addNode` when one is up. Optional: a fixed pool never grows. */
  grow?(count: number, pool: string): void;
}

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
   */
  prefetch?: number;
  clock?: Clock;
  ids?: IdSource;
  /** Rules replacing core's (`SCHEDULER_RULES`): the model checker's broken variants only. */
  [internalSeams]?: Partial<SchedulerRules>;
}

const DEFAULT_POOL = 'default';

interface Pool {
  readonly name: string;
  readonly waiting: WaitingQueue<ScheduledRequest>;
  readonly nodes: Set<NodeSlot>;
  /** Nodes asked of the host and not yet added. */
  growing: number;
  readonly max: number | undefined;
  /**
   * Why the pool's last growth failed. While set the pool does not grow: the host has already
   * retried, and asking again at once would loop. Cleared when the pool's waiting requests fail
   * with it (no nodes) or when every request has finished (the end of a run).
   */
  growthError: Error | undefined;
}

export interface StallReport {
  holders: StallHolder[];
  waiting: number;
}

export interface SchedulerEvents {
  /** Every request state change, for traces, progress and monitors. */
  transition: [request: ScheduledRequest, from: RequestState | 'new', to: RequestState];
  stall: [report: StallReport];
  /** The stall persisted; every unfinished request failed with this error. */
  'stall.failed': [error: StallError];
  settled: [request: ScheduledRequest];
}

interface NodeSlot {
  readonly id: string;
  readonly pool: Pool;
  active: ScheduledRequest | undefined;
  /** Requests whose continuation lives here and that could run now (ready or reacquiring). */
  readonly runnable: Set<ScheduledRequest>;
  /** Requests sent ahead, in the order the node will start them. */
  readonly staged: ScheduledRequest[];
}

/**
 * MSBuild's scheduler, as a library: requests that depend on each other, on N nodes, where a
 * request that waits (on other requests: `block`; on the world: `yield`) frees its node, and
 * comes back to the same node (its continuation lives there) when that node is free.
 *
 * Pure decision-making: the host carries out `start`, `unblock`, `grant` and `cancel`, and
 * reports back what the nodes did. Time enters only through the clock (stall detection).
 */
export class Scheduler extends SafeEmitter<SchedulerEvents> {
  readonly policy: SchedulingPolicy;
  readonly #host: SchedulerHost;
  readonly #clock: Clock;
  readonly #ids: IdSource;
  readonly #requests = new Map<string, ScheduledRequest>();
  readonly #byKey = new Map<string, ScheduledRequest>();
  /** Nodes come in pools (thread nodes, task hosts...); a request runs only on nodes of its pool. */
  readonly #pools = new Map<string, Pool>();
  readonly #nodes = new Map<string, NodeSlot>();
  readonly #machine: Actor<typeof schedulerMachine>;
  readonly #maxNodes: number | Readonly<Record<string, number>> | undefined;
  #seq = 0;
  /**
   * Request ids are this scheduler's random prefix and a sequence number: unique across hosts (a
   * reused node serves many), and no random draw per request.
   */
  readonly #idPrefix: string;
  #unfinished = 0;
  #dispatching = false;
  #lastProgress = 0;
  readonly #stallTimeoutMs: number;
  readonly #prefetch: number;
  readonly #rules: Readonly<SchedulerRules>;

  constructor(options: SchedulerOptions) {
    super();
    this.#host = options.host;
    this.#rules = { ...SCHEDULER_RULES, ...options[internalSeams] };
    this.policy = options.policy ?? criticalPathFirst;
    this.#clock = options.clock ?? systemClock;
    this.#ids = options.ids ?? createIdSource();
    this.#maxNodes = options.maxNodes;
    this.#prefetch = options.prefetch ?? 0;
    if (!Number.isInteger(this.#prefetch) || this.#prefetch < 0)
      throw new RangeError(`prefetch must be a non-negative integer, not ${options.prefetch}`);
    this.#stallTimeoutMs = options.stallTimeoutMs ?? 5_000;
    this.#idPrefix = `${this.#ids.next('req')}.`;
    const machine = provideSchedulerMachine(schedulerMachine, {
      reportStall: () => this.emitSafely('stall', this.#stallReport()),
      failStall: () => this.#failStall(),
      quietFor: () => this.#clock.now() - this.#lastProgress,
    });
    this.#machine = createActor(machine, {
      inspect: machineInspector(),
      clock: this.#clock,
      input: { stallTimeoutMs: this.#stallTimeoutMs, stallErrorMs: options.stallErrorMs ?? 10_000 },
    });
    this.#machine.subscribe({ error: reportUnhandledError });
    this.#machine.start();
  }

  /** Events for a machine that already reached its final state are late news: dropped, not warned about. */
  #toMachine(event: SchedulerMachineEvent): void {
    sendIfActive(this.#machine, event);
  }

  get state(): SchedulerState {
    return this.#machine.getSnapshot().value;
  }

  /** Requests submitted and not yet completed, failed or cancelled. */
  get unfinished(): number {
    return this.#unfinished;
  }

  get waiting(): number {
    let waiting = 0;
    for (const pool of this.#pools.values()) waiting += pool.waiting.size;
    return waiting;
  }

  request(id: string): ScheduledRequest | undefined {
    return this.#requests.get(id);
  }

  /** The request active on each node, for monitors: never more than one per node. */
  activeOn(node: string): ScheduledRequest | undefined {
    return this.#nodes.get(node)?.active;
  }

  get nodes(): readonly string[] {
    return [...this.#nodes.keys()];
  }

  /**
   * The host could not start `count` of the nodes it was asked to grow by, because of `error`
   * (after its own retries). A pool that has nodes carries on with them and grows no more until
   * every request has finished. A pool with no node, and none on the way, cannot run what waits
   * for it: those requests fail with `error` (and their waiters learn it as any failure), and a
   * request submitted after that may try growing again. Returns how many requests failed now.
   */
  growthFailed(count: number, poolName: string, error: Error): number {
    const pool = this.#pool(poolName);
    pool.growing = Math.max(0, pool.growing - count);
    // News from a run that has ended holds nothing back: the next run may try again.
    if (this.#unfinished > 0) pool.growthError = error;
    const unfinished = this.#unfinished;
    this.#dispatch();
    return unfinished - this.#unfinished;
  }

  addNode(id: string, poolName = DEFAULT_POOL): void {
    if (this.#nodes.has(id)) throw new Error(`node ${id} is already in the pool`);
    const pool = this.#pool(poolName);
    if (pool.growing > 0) pool.growing--;
    const slot: NodeSlot = { id, pool, active: undefined, runnable: new Set(), staged: [] };
    pool.nodes.add(slot);
    this.#nodes.set(id, slot);
    this.#dispatch();
  }

  #pool(name: string): Pool {
    let pool = this.#pools.get(name);
    if (!pool) {
      const max = typeof this.#maxNodes === 'number' ? this.#maxNodes : this.#maxNodes?.[name];
      pool = {
        name,
        waiting: new WaitingQueue<ScheduledRequest>((a, b) => this.policy.compare(a, b)),
        nodes: new Set(),
        growing: 0,
        max,
        growthError: undefined,
      };
      this.#pools.set(name, pool);
    }
    return pool;
  }

  /**
   * A node is gone. Every unfinished request whose continuation lived there fails with `error`
   * (their state died with the node); requests merely waiting for a node are unaffected.
   */
  removeNode(id: string, error: Error): void {
    const slot = this.#nodes.get(id);
    if (!slot) return;
    this.#nodes.delete(id);
    slot.pool.nodes.delete(slot);
    for (const request of this.#requests.values()) {
      if (request.node === id && !FINISHED.has(request.state))
        this.#finish(request, 'failed', undefined, error);
    }
    this.#dispatch();
  }

  /**
   * Submits a request; the same task and input submitted again (while cached) is the same
   * request, built once. Returns the request and a promise of its end.
   */
  submit(spec: RequestSpec, key = requestKey(spec)): ScheduledRequest {
    let request = this.#byKey.get(key);
    if (!request) {
      request = {
        id: `${this.#idPrefix}${this.#seq.toString(36)}`,
        key,
        spec,
        seq: this.#seq++,
        pool: spec.pool ?? DEFAULT_POOL,
        state: 'waiting',
        node: undefined,
        priority: spec.cost ?? 1,
        waitingOn: NO_REQUESTS,
        waiters: NO_REQUESTS,
        builds: 0,
        activeSince: 0,
        queueIndex: undefined,
      };
      this.#requests.set(request.id, request);
      this.#byKey.set(key, request);
      this.#unfinished++;
      this.emitSafely('transition', request, 'new', 'waiting');
      this.#pool(request.pool).waiting.push(request);
      this.#dispatch();
    }
    return request;
  }

  /** Submits several requests, deciding where they run once, after all of them are in. */
  submitAll(specs: readonly RequestSpec[]): ScheduledRequest[] {
    const outer = this.#dispatching;
    this.#dispatching = true;
    let requests: ScheduledRequest[];
    try {
      // Every key first: an input that cannot cross throws before any request of the batch is in.
      const keys = specs.map(requestKey);
      requests = specs.map((spec, index) => this.submit(spec, keys[index]));
    } finally {
      this.#dispatching = outer;
    }
    if (!outer) this.#dispatch();
    return requests;
  }

  /**
   * `parent`, executing, waits on `children` (submitted as needed). Its node is free meanwhile.
   * Children that would close a cycle fail, with every request in the cycle.
   */
  block(parentId: string, specs: readonly RequestSpec[]): ScheduledRequest[] {
    const parent = this.#mustBe(parentId, 'executing');
    const children = this.submitAll(specs);
    parent.awaited = this.#rules.awaitedResults(children);
    const cycle = this.#findCycle(parent, children);
    this.#releaseNode(parent, 'blocked');
    if (cycle) {
      // The edge that would close the cycle is never added: the graph stays acyclic.
      const error = new RequestCycleError(cycle.map((r) => `${r.id} (${r.spec.task})`));
      for (const request of cycle)
        if (!FINISHED.has(request.state)) this.#finish(request, 'failed', undefined, error);
    } else {
      for (const child of children) {
        if (FINISHED.has(child.state)) continue;
        wait(parent, child);
        this.#raisePriority(child, (child.spec.cost ?? 1) + parent.priority);
      }
      if (parent.waitingOn.size === 0) this.#makeRunnable(parent, 'ready');
    }
    this.#dispatch();
    return children;
  }

  /** `id`, executing, waits on something outside the runtime; its node is free meanwhile. */
  yield(id: string): void {
    const request = this.#mustBe(id, 'executing');
    this.#releaseNode(request, 'yielded');
    this.#dispatch();
  }

  /** `id`, yielded, wants its node back; `host.grant` is called when it has it. */
  reacquire(id: string): void {
    const request = this.#mustBe(id, 'yielded');
    this.#makeRunnable(request, 'reacquiring');
    if (this.#rules.reacquireTakesBusyNode(request)) this.#grantNow(request);
    this.#dispatch();
  }

  /** The node is taken over whoever holds it (only under a broken rule). */
  #grantNow(request: ScheduledRequest): void {
    const slot = request.node === undefined ? undefined : this.#nodes.get(request.node);
    if (!slot?.active) return;
    this.#run(request, slot);
  }

  complete(id: string, value: unknown): void {
    this.#finish(this.#mustBe(id, 'executing'), 'completed', value, undefined);
    this.#dispatch();
  }

  fail(id: string, error: Error): void {
    const request = this.#requests.get(id);
    if (!request || FINISHED.has(request.state)) return;
    this.#finish(request, 'failed', undefined, error);
    this.#dispatch();
  }

  /**
   * Cancels a request and, with it, every request it waits on that nothing else still needs.
   * Running ones are cancelled on their nodes through the host.
   */
  cancel(id: string, reason: Error = new RequestCancelledError(`request ${id} was cancelled`)): void {
    const request = this.#requests.get(id);
    if (!request || FINISHED.has(request.state)) return;
    const dependencies = [...request.waitingOn];
    if (request.node !== undefined && request.state !== 'waiting')
      this.#host.cancel(request, request.node, reason);
    this.#finish(
      request,
      'cancelled',
      undefined,
      reason,
      (request.state === 'executing' || request.state === 'staged') &&
        this.#rules.cancelledHoldsNode(request),
    );
    for (const dependency of dependencies) {
      if (dependency.waiters.size === 0 && dependency.builds === 0) this.cancel(dependency.id, reason);
    }
    this.#dispatch();
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
      if (cancel && request.builds === 0 && request.waiters.size === 0) this.cancel(request.id, cancel);
    }
  }

  /**
   * The node reports that `requestId`, which this host already ended (cancelled, failed by a
   * stall), has left it (its result, block or yield arrived): the node is free for the next.
   */
  nodeLeft(nodeId: string, requestId: string): void {
    const slot = this.#nodes.get(nodeId);
    if (!slot) return;
    const active = slot.active;
    if (active?.id === requestId && FINISHED.has(active.state)) this.#leave(slot);
    else {
      // Still queued there: the node dropped it without running it.
      const index = slot.staged.findIndex((r) => r.id === requestId && FINISHED.has(r.state));
      if (index < 0) return;
      slot.staged.splice(index, 1);
    }
    this.#dispatch();
  }

  /** Cancels every unfinished request. */
  cancelAll(reason: Error): void {
    for (const request of [...this.#requests.values()])
      if (!FINISHED.has(request.state)) this.cancel(request.id, reason);
  }

  /** Stops stall detection; call when the run is over. */
  stop(): void {
    this.#toMachine({ type: 'scheduler.stop' });
  }

  #mustBe(id: string, state: RequestState): ScheduledRequest {
    const request = this.#requests.get(id);
    if (!request) throw new Error(`unknown request ${id}`);
    if (request.state !== state) throw new Error(`request ${id} is ${request.state}, not ${state}`);
    return request;
  }

  /** Resolves when the request completed, failed or was cancelled. */
  whenSettled(request: ScheduledRequest): Promise<ScheduledRequest> {
    if (FINISHED.has(request.state)) return Promise.resolve(request);
    return new Promise((resolve) => this.#onSettled(request, resolve));
  }

  /**
   * Resolves when every one of `requests` has completed, failed or was cancelled: one promise
   * for a build of many requests, rather than one each.
   */
  whenAllSettled(requests: readonly ScheduledRequest[]): Promise<void> {
    let remaining = 0;
    for (const request of requests) if (!FINISHED.has(request.state)) remaining++;
    if (remaining === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const one = () => {
        if (--remaining === 0) resolve();
      };
      for (const request of requests) if (!FINISHED.has(request.state)) this.#onSettled(request, one);
    });
  }

  #onSettled(request: ScheduledRequest, callback: (request: ScheduledRequest) => void): void {
    if (request.onSettled) request.onSettled.push(callback);
    else request.onSettled = [callback];
  }

  #move(request: ScheduledRequest, to: RequestState): void {
    const from = advance(request, to);
    this.emitSafely('transition', request, from, to);
  }

  #releaseNode(request: ScheduledRequest, to: 'blocked' | 'yielded'): void {
    const slot = request.node === undefined ? undefined : this.#nodes.get(request.node);
    this.#move(request, to);
    if (slot?.active === request) this.#leave(slot);
    this.#progress();
  }

  /**
   * The active request left its node: the first staged one starts there now, as it does on the
   * node itself, which starts it the moment the active one sent its result, block or yield.
   */
  #leave(slot: NodeSlot): void {
    // Only a broken rule leaves the node to a waiting continuation while the node starts its
    // staged request (MSBuild #13531).
    if (slot.runnable.size > 0 && slot.staged.length > 0 && !this.#rules.stagedStartsFirst(slot.id)) {
      slot.active = undefined;
      return;
    }
    const next = slot.staged.shift();
    slot.active = next;
    // A request the host already ended holds the node until the node answers for it.
    if (next && !FINISHED.has(next.state)) {
      next.activeSince = this.#clock.now();
      this.#move(next, 'executing');
    }
  }

  #makeRunnable(request: ScheduledRequest, to: 'ready' | 'reacquiring'): void {
    this.#move(request, to);
    const slot = request.node === undefined ? undefined : this.#nodes.get(request.node);
    slot?.runnable.add(request);
  }

  /**
   * `stillOnNode`: the host ended a request its node is running (a cancel, a stall): the node
   * holds it until its task notices and reports back, so the node stays taken until then
   * (`nodeLeft`), or a continuation granted meanwhile would run beside it.
   */
  #finish(
    request: ScheduledRequest,
    to: 'completed' | 'failed' | 'cancelled',
    value: unknown,
    error: Error | undefined,
    stillOnNode = false,
  ): void {
    const slot = request.node === undefined ? undefined : this.#nodes.get(request.node);
    if (slot) {
      slot.runnable.delete(request);
      // A staged request the host ends stays in the node's queue until the node answers for it:
      // it may have started it already (its active one left before the cancel arrived).
      if (request.state === 'staged' && !stillOnNode) slot.staged.splice(slot.staged.indexOf(request), 1);
    }
    this.#pools.get(request.pool)?.waiting.delete(request);
    if (to === 'completed') request.value = value;
    else request.error = error;
    this.#move(request, to);
    request.awaited = undefined;
    if (slot?.active === request && !stillOnNode) this.#leave(slot);
    // The end of a run: a pool whose growth failed during it may try again in the next.
    if (--this.#unfinished === 0) for (const pool of this.#pools.values()) pool.growthError = undefined;
    // A request's outcome is final for this scheduler, failure as much as success: whoever asks
    // again later (a dependent's ctx.build, another build) gets the same failure rather than a
    // silent rebuild that would give one request two answers. Only a cancelled request leaves the
    // cache: a cancel withdraws the question, it does not answer it, so asking again builds again.
    if (to === 'cancelled' && this.#byKey.get(request.key) === request) this.#byKey.delete(request.key);
    unwaitAll(request);
    this.#progress();
    if (request.waiters.size > 0) {
      for (const waiter of [...request.waiters]) {
        unwait(waiter, request);
        if (waiter.state === 'blocked' && waiter.waitingOn.size === 0) this.#makeRunnable(waiter, 'ready');
      }
    }
    const settle = request.onSettled;
    request.onSettled = undefined;
    if (settle) for (const resolve of settle) resolve(request);
    this.emitSafely('settled', request);
  }

  /** A request's priority is its cost plus the longest chain waiting on it; it only rises. */
  #raisePriority(request: ScheduledRequest, priority: number): void {
    if (priority <= request.priority || FINISHED.has(request.state)) return;
    request.priority = priority;
    this.#pools.get(request.pool)?.waiting.improved(request);
    for (const dependency of request.waitingOn)
      this.#raisePriority(dependency, (dependency.spec.cost ?? 1) + priority);
  }

  /** Would `parent` waiting on `children` close a cycle? Returns the cycle, parent first. */
  #findCycle(
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

  #dispatch(): void {
    // Host callbacks may report back synchronously; one loop at a time keeps decisions ordered.
    if (this.#dispatching) return;
    this.#dispatching = true;
    try {
      do {
        let moved = true;
        while (moved) {
          moved = false;
          for (const slot of this.#nodes.values()) {
            if (slot.active) continue;
            const next = this.#pickFor(slot);
            if (!next) continue;
            moved = true;
            this.#run(next, slot);
          }
        }
        if (this.#prefetch > 0) this.#stage();
        this.#considerGrowth();
        // A failed request may free a continuation (its waiter) to run: decide again.
      } while (this.#failUnservable());
      this.#checkStall();
    } finally {
      this.#dispatching = false;
    }
  }

  /**
   * Sends waiting requests ahead to busy nodes, one per node per round, while a node has room
   * and no continuation of its own waiting, and only in a pool at its full size (a node on its
   * way would otherwise find the work already promised elsewhere).
   */
  #stage(): void {
    for (const pool of this.#pools.values()) {
      if (pool.waiting.size === 0 || pool.growing > 0) continue;
      if (pool.nodes.size < (pool.max ?? pool.nodes.size)) continue;
      let staged = true;
      while (staged && pool.waiting.size > 0) {
        staged = false;
        for (const slot of pool.nodes) {
          if (!slot.active || slot.runnable.size > 0 || slot.staged.length >= this.#prefetch) continue;
          const request = pool.waiting.pop();
          if (!request) break;
          request.node = slot.id;
          slot.staged.push(request);
          this.#move(request, 'staged');
          staged = true;
          try {
            this.#host.start(request, slot.id);
          } catch (error) {
            reportUnhandledError(error);
          }
        }
      }
    }
  }

  #pickFor(slot: NodeSlot): ScheduledRequest | undefined {
    // A continuation waiting for this node beats new work: it holds resources and is nearer done.
    let best: ScheduledRequest | undefined;
    for (const request of slot.runnable) {
      if (!best || this.policy.compare(request, best) < 0) best = request;
    }
    if (best) return best;
    return slot.pool.waiting.pop();
  }

  #run(request: ScheduledRequest, slot: NodeSlot): void {
    slot.active = request;
    slot.runnable.delete(request);
    request.activeSince = this.#clock.now();
    const from = request.state;
    request.node = slot.id;
    this.#move(request, 'executing');
    this.#progress();
    try {
      if (from === 'waiting') this.#host.start(request, slot.id);
      else if (from === 'ready') this.#host.unblock(request, slot.id);
      else this.#host.grant(request, slot.id);
    } catch (error) {
      reportUnhandledError(error);
    }
  }

  #considerGrowth(): void {
    const grow = this.#host.grow;
    if (!grow) return;
    for (const pool of this.#pools.values()) {
      if (pool.waiting.size === 0 || pool.growthError) continue;
      const max = pool.max ?? pool.nodes.size;
      const room = max - pool.nodes.size - pool.growing;
      const wanted = Math.min(room, pool.waiting.size - pool.growing);
      if (wanted <= 0) continue;
      pool.growing += wanted;
      grow.call(this.#host, wanted, pool.name);
    }
  }

  /**
   * Fails what waits for a pool that cannot have nodes: its growth failed, it has none, and none
   * are on the way. Says whether any request failed.
   */
  #failUnservable(): boolean {
    let failed = false;
    for (const pool of this.#pools.values()) {
      const error = pool.growthError;
      if (!error || pool.nodes.size > 0 || pool.growing > 0) continue;
      pool.growthError = undefined;
      for (let request = pool.waiting.pop(); request; request = pool.waiting.pop()) {
        this.#finish(request, 'failed', undefined, error);
        // It never ran: the failure is its pool's, not its answer, so asking again tries again.
        if (this.#byKey.get(request.key) === request) this.#byKey.delete(request.key);
        failed = true;
      }
    }
    return failed;
  }

  /**
   * The stall question, per pool: work waits for the pool's nodes, every one of them is held by
   * an active request, and the pool cannot grow.
   */
  #stalled(): boolean {
    for (const pool of this.#pools.values()) {
      if (pool.nodes.size === 0 || pool.growing > 0) continue;
      let waiting = pool.waiting.size;
      let allHeld = true;
      for (const slot of pool.nodes) {
        if (!slot.active) {
          allHeld = false;
          break;
        }
        waiting += slot.runnable.size + slot.staged.length;
      }
      if (allHeld && waiting > 0) return true;
    }
    return false;
  }

  #checkStall(): void {
    const state = this.state;
    if (state === 'failed' || state === 'stopped') return;
    const stalled = this.#stalled();
    if (state === 'flowing') {
      if (stalled) {
        this.#lastProgress = this.#clock.now();
        this.#toMachine({ type: 'stall.suspected' });
      }
    } else if (!stalled) {
      this.#toMachine({ type: 'stall.cleared' });
    }
  }

  #progress(): void {
    this.#lastProgress = this.#clock.now();
    if (this.state === 'stalled') this.#toMachine({ type: 'progress' });
  }

  #stallReport(): StallReport {
    const now = this.#clock.now();
    const holders: StallHolder[] = [];
    let waiting = this.waiting;
    for (const slot of this.#nodes.values()) {
      waiting += slot.runnable.size + slot.staged.length;
      if (slot.active) {
        holders.push({
          request: slot.active.id,
          task: slot.active.spec.task,
          node: slot.id,
          heldMs: now - slot.active.activeSince,
        });
      }
    }
    return { holders, waiting };
  }

  #failStall(): void {
    const report = this.#stallReport();
    const error = new StallError(report.holders, report.waiting);
    this.emitSafely('stall.failed', error);
    for (const request of [...this.#requests.values()]) {
      if (FINISHED.has(request.state)) continue;
      if (request.node !== undefined && request.state !== 'waiting')
        this.#host.cancel(request, request.node, error);
      this.#finish(
        request,
        'failed',
        undefined,
        error,
        request.state === 'executing' || request.state === 'staged',
      );
    }
  }
}
