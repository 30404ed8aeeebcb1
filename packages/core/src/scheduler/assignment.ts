import type { Clock } from '@troupe/transport';
import { reportUnhandledError } from '@troupe/transport/internal';
import { considerGrowth, failUnservable, sendAhead } from './growth.js';
import type { SchedulerHost } from './host.js';
import type { SchedulingPolicy } from './policy.js';
import type { NodeSlot, Pools } from './pools.js';
import { FINISHED, type RequestState, type ScheduledRequest } from './request.js';
import type { SchedulerRules } from './rules.js';
import type { StallWatch } from './stall.js';
import { TaskStretches } from './stretches.js';

export interface NodeAssignmentOptions {
  pools: Pools;
  host: SchedulerHost;
  policy: SchedulingPolicy;
  rules: Readonly<SchedulerRules>;
  clock: Clock;
  stall: StallWatch;
  /**
   * Requests sent ahead to each busy node at most, or `'auto'`: one, behind a request expected to
   * leave its node soon (`SchedulerOptions.prefetch`).
   */
  prefetch: number | 'auto';
  /** Moves a request's state and announces it (the scheduler's `transition` event). */
  move(request: ScheduledRequest, to: RequestState): void;
  /** `request`, taken from the queue of a pool that cannot have nodes, fails with `error`. */
  failUnservable(request: ScheduledRequest, error: Error): void;
  /** `request` was started again from the start on `to`, its run on `from` dropped. */
  restarted(request: ScheduledRequest, from: string | undefined, to: string | undefined): void;
}

/**
 * Which request runs on which node, never more than one active on a node. A free node takes the
 * best continuation waiting for it, else its pool's next waiting request; a request that leaves
 * its node hands it to the first request staged there. Each round of decisions then sends work
 * ahead, grows pools, gives up on pools that cannot have nodes, and asks the stall question.
 */
export class NodeAssignment {
  readonly #pools: Pools;
  readonly #host: SchedulerHost;
  readonly #policy: SchedulingPolicy;
  readonly #rules: Readonly<SchedulerRules>;
  readonly #clock: Clock;
  readonly #stall: StallWatch;
  readonly #prefetch: number | 'auto';
  /** How long each task's requests held their nodes at a stretch: what `'auto'` stages behind. */
  readonly #stretches: TaskStretches | undefined;
  readonly #move: (request: ScheduledRequest, to: RequestState) => void;
  readonly #failUnservable: (request: ScheduledRequest, error: Error) => void;
  readonly #restarted: NodeAssignmentOptions['restarted'];
  #deciding = false;
  /** Active time and cost of the completed requests that gave a cost: ms per unit of cost. */
  #costMs = 0;
  #costUnits = 0;

  constructor(options: NodeAssignmentOptions) {
    this.#pools = options.pools;
    this.#host = options.host;
    this.#policy = options.policy;
    this.#rules = options.rules;
    this.#clock = options.clock;
    this.#stall = options.stall;
    this.#prefetch = options.prefetch;
    this.#stretches = options.prefetch === 'auto' ? new TaskStretches() : undefined;
    this.#move = options.move;
    this.#failUnservable = options.failUnservable;
    this.#restarted = options.restarted;
  }

  /** Decides which request runs where, until nothing more can move. */
  dispatch(): void {
    // Host callbacks may report back synchronously; one loop at a time keeps decisions ordered.
    if (this.#deciding) return;
    this.#deciding = true;
    try {
      do {
        let moved = true;
        while (moved) {
          moved = false;
          for (const slot of this.#pools.nodes.values()) {
            if (slot.active) continue;
            const next = this.#pickFor(slot);
            if (!next) continue;
            moved = true;
            this.#run(next, slot);
          }
        }
        if (this.#prefetch !== 0) sendAhead(this.#pools, this.#room, this.#stage);
        considerGrowth(this.#pools, this.#host);
        // A failed request may free a continuation (its waiter) to run: decide again.
      } while (failUnservable(this.#pools, this.#failUnservable));
      this.#stall.check();
    } finally {
      this.#deciding = false;
    }
  }

  /** Runs `submit` with no decision made meanwhile, then decides once (unless a round is on). */
  batch<T>(submit: () => T): T {
    const outer = this.#deciding;
    this.#deciding = true;
    let result: T;
    try {
      result = submit();
    } finally {
      this.#deciding = outer;
    }
    if (!outer) this.dispatch();
    return result;
  }

  /** `request`, active, waits (on other requests, or on the world): its node is free meanwhile. */
  releaseNode(request: ScheduledRequest, to: 'blocked' | 'yielded'): void {
    const slot = this.#pools.slotOf(request);
    const stretch = this.#clock.now() - request.activeSince;
    request.ranMs += stretch;
    this.#stretches?.record(request.spec.task, stretch);
    this.#move(request, to);
    if (slot?.active === request) this.leave(slot);
    this.#stall.progress();
  }

  /** `request` may continue on its node, as soon as that node is free. */
  makeRunnable(request: ScheduledRequest, to: 'ready' | 'reacquiring'): void {
    this.#move(request, to);
    const slot = this.#pools.slotOf(request);
    slot?.runnable.add(request);
    if (to === 'ready' && request.restartable && this.#host.restart) slot?.pool.restartable.add(request);
  }

  /**
   * `request` completed: its active time calibrates what a unit of cost takes (`#remaining`), and
   * its last stretch tells `'auto'` how long its task holds a node.
   */
  completed(request: ScheduledRequest): void {
    const cost = request.spec.cost;
    const costed = cost !== undefined && cost > 0;
    if (!costed && !this.#stretches) return;
    const stretch = this.#clock.now() - request.activeSince;
    this.#stretches?.record(request.spec.task, stretch);
    if (!costed) return;
    this.#costMs += request.ranMs + stretch;
    this.#costUnits += cost;
  }

  /**
   * The node holding `request`'s continuation is gone, and the request is restartable: it runs
   * again from the start, on any node (at once if it is ready; when its dependencies are done if
   * it is blocked). Its continuation was lost with the node, so there is nothing to drop.
   */
  lost(request: ScheduledRequest): void {
    this.#pools.find(request.pool)?.restartable.delete(request);
    const from = request.node;
    this.#forgetRun(request);
    if (request.state === 'ready') {
      this.#move(request, 'waiting');
      this.#pools.get(request.pool).waiting.push(request);
    }
    this.#restarted(request, from, undefined);
  }

  /** A new run from the start: what the last one did is forgotten. */
  #forgetRun(request: ScheduledRequest): void {
    request.node = undefined;
    request.ranMs = 0;
    request.awaited = undefined;
    request.restarts++;
  }

  /** The node is taken over whoever holds it (only under a broken rule). */
  grantNow(request: ScheduledRequest): void {
    const slot = this.#pools.slotOf(request);
    if (!slot?.active) return;
    this.#run(request, slot);
  }

  /**
   * `request` is ending: it waits for no node and in no queue any more, unless it `holdsNode`
   * (see `Scheduler.#withdraw`). Called before its state moves; returns its node, which the
   * caller lets go of (`leave`) once it has moved.
   */
  remove(request: ScheduledRequest, holdsNode: boolean): NodeSlot | undefined {
    const slot = this.#pools.slotOf(request);
    if (slot) {
      slot.runnable.delete(request);
      // A staged request the host ends stays in the node's queue until the node answers for it:
      // it may have started it already (its active one left before the cancel arrived).
      if (request.state === 'staged' && !holdsNode) slot.staged.splice(slot.staged.indexOf(request), 1);
    }
    const pool = this.#pools.find(request.pool);
    pool?.waiting.delete(request);
    pool?.restartable.delete(request);
    return slot;
  }

  /**
   * The active request left its node: the first staged one starts there now, as it does on the
   * node itself, which starts it the moment the active one sent its result, block or yield.
   */
  leave(slot: NodeSlot): void {
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

  /** See `Scheduler.nodeLeft`. */
  nodeLeft(nodeId: string, requestId: string): void {
    const slot = this.#pools.nodes.get(nodeId);
    if (!slot) return;
    const active = slot.active;
    if (active?.id === requestId && FINISHED.has(active.state)) this.leave(slot);
    else {
      // Still queued there: the node dropped it without running it.
      const index = slot.staged.findIndex((r) => r.id === requestId && FINISHED.has(r.state));
      if (index < 0) return;
      slot.staged.splice(index, 1);
    }
    this.dispatch();
  }

  #pickFor(slot: NodeSlot): ScheduledRequest | undefined {
    // A continuation waiting for this node beats new work: it holds resources and is nearer done.
    let best: ScheduledRequest | undefined;
    for (const request of slot.runnable) {
      if (!best || this.#policy.compare(request, best) < 0) best = request;
    }
    if (best) return best;
    const restart = this.#restartFor(slot);
    if (restart) return restart;
    return slot.pool.waiting.pop();
  }

  /**
   * A ready restartable continuation of the pool, pinned to another node, that this free node
   * should run again from the start rather than take waiting work: the best one by the policy, if
   * it comes before the pool's next waiting request and running it again costs less than waiting
   * for its own node (see docs/scheduling.md).
   */
  #restartFor(slot: NodeSlot): ScheduledRequest | undefined {
    const candidates = slot.pool.restartable;
    if (candidates.size === 0) return undefined;
    let best: ScheduledRequest | undefined;
    for (const request of candidates) {
      if (request.node === slot.id) continue;
      if (best && this.#policy.compare(request, best) >= 0) continue;
      if (this.#worthRestarting(request)) best = request;
    }
    if (!best) return undefined;
    const next = slot.pool.waiting.peek();
    return next && this.#policy.compare(next, best) < 0 ? undefined : best;
  }

  /**
   * Whether running `request` again costs less than waiting for its node: its first run's active
   * time against the time its node's active request has left. Every restart is a wager on two
   * estimates, so it must win outright: a tie waits.
   */
  #worthRestarting(request: ScheduledRequest): boolean {
    const own = this.#pools.slotOf(request);
    const holder = own?.active;
    if (!holder) return false;
    return request.ranMs < this.#remaining(holder);
  }

  /**
   * How much longer `request`, active, will take: its cost at the rate completed requests ran at,
   * less what it has run; with no cost or no rate yet, as long again as it has run so far.
   */
  #remaining(request: ScheduledRequest): number {
    const ran = request.ranMs + (this.#clock.now() - request.activeSince);
    const cost = request.spec.cost;
    if (cost !== undefined && this.#costUnits > 0)
      return Math.max(0, (cost * this.#costMs) / this.#costUnits - ran);
    return ran;
  }

  #run(request: ScheduledRequest, slot: NodeSlot): void {
    const from = request.state;
    const pinned = request.node;
    // A ready continuation taken by another node: its run there is dropped, and it starts again.
    const restart = from === 'ready' && pinned !== slot.id;
    if (from === 'ready') slot.pool.restartable.delete(request);
    // Only a broken rule leaves the first run to go on beside the new one.
    const drop = restart && this.#rules.restartDropsFirstRun(request);
    if (restart) {
      this.#pools.slotOf(request)?.runnable.delete(request);
      if (!drop && pinned !== undefined) this.#host.unblock(request, pinned);
      this.#forgetRun(request);
    }
    slot.active = request;
    slot.runnable.delete(request);
    request.activeSince = this.#clock.now();
    request.node = slot.id;
    this.#move(request, 'executing');
    this.#stall.progress();
    try {
      if (restart) {
        if (drop && pinned !== undefined) this.#host.restart?.(request, pinned);
        this.#restarted(request, pinned, slot.id);
        this.#host.start(request, slot.id);
      } else if (from === 'waiting') this.#host.start(request, slot.id);
      else if (from === 'ready') this.#host.unblock(request, slot.id);
      else this.#host.grant(request, slot.id);
    } catch (error) {
      reportUnhandledError(error);
    }
  }

  /**
   * How many requests may be staged on `slot`, busy: `prefetch`, or with `'auto'` one if its
   * active request is expected to leave the node soon (its task's stretches are short) and none
   * otherwise, so nothing is committed to wait behind a long request or one never seen before.
   */
  readonly #room = (slot: NodeSlot): number => {
    if (this.#prefetch !== 'auto') return this.#prefetch;
    const active = slot.active!;
    return this.#stretches!.leavesSoon(active.spec.task, this.#clock.now() - active.activeSince) ? 1 : 0;
  };

  /** A request sent ahead to a busy node (`sendAhead`). */
  readonly #stage = (request: ScheduledRequest, slot: NodeSlot): void => {
    this.#move(request, 'staged');
    try {
      this.#host.start(request, slot.id);
    } catch (error) {
      reportUnhandledError(error);
    }
  };
}
