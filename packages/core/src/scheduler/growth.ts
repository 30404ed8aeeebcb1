import type { SchedulerHost } from './host.js';
import type { NodeSlot, Pool, Pools } from './pools.js';
import type { ScheduledRequest } from './request.js';

// How pools get more of their nodes: growing a pool toward its maximum, sending requests ahead
// to busy nodes once it is there (prefetch), and giving up on a pool whose growth failed.

/**
 * Asks the host for the nodes each pool's waiting work could use, up to the pool's maximum
 * (default: the nodes it has, so a fixed pool never grows), minus what is on the way.
 */
export function considerGrowth(pools: Pools, host: Pick<SchedulerHost, 'grow'>): void {
  const grow = host.grow;
  if (!grow) return;
  for (const pool of pools.values()) {
    if (pool.waiting.size === 0 || pool.growthError) continue;
    const max = pool.max ?? pool.nodes.size;
    const room = max - pool.nodes.size - pool.growing;
    const wanted = Math.min(room, pool.waiting.size - pool.growing);
    if (wanted <= 0) continue;
    pool.growing += wanted;
    grow.call(host, wanted, pool.name);
  }
}

/**
 * The host could not start `count` of the nodes `pool` asked for. While a run goes on the pool
 * grows no more (the host has already retried; see `Pool.growthError`); news from a run that has
 * ended holds nothing back: the next run may try again.
 */
export function growthFailed(pool: Pool, count: number, error: Error, runGoesOn: boolean): void {
  pool.growing = Math.max(0, pool.growing - count);
  if (runGoesOn) pool.growthError = error;
}

/** The end of a run: a pool whose growth failed during it may try again in the next. */
export function forgetGrowthFailures(pools: Pools): void {
  for (const pool of pools.values()) pool.growthError = undefined;
}

/**
 * Fails what waits for a pool that cannot have nodes: its growth failed, it has none, and none
 * are on the way. `fail` is told of each such request, taken out of its pool's queue. Says
 * whether any request failed.
 */
export function failUnservable(
  pools: Pools,
  fail: (request: ScheduledRequest, error: Error) => void,
): boolean {
  let failed = false;
  for (const pool of pools.values()) {
    const error = pool.growthError;
    if (!error || pool.nodes.size > 0 || pool.growing > 0) continue;
    pool.growthError = undefined;
    for (let request = pool.waiting.pop(); request; request = pool.waiting.pop()) {
      fail(request, error);
      failed = true;
    }
  }
  return failed;
}

/**
 * Sends waiting requests ahead to busy nodes, one per node per round, while a node has room
 * (`room(slot)` staged at most) and no continuation of its own waiting, and only in a pool at its
 * full size (a node on its way would otherwise find the work already promised elsewhere). Each
 * request is taken from its pool's queue, given the node and put in its queue; then `stage`
 * moves it and sends it.
 */
export function sendAhead(
  pools: Pools,
  room: (slot: NodeSlot) => number,
  stage: (request: ScheduledRequest, slot: NodeSlot) => void,
): void {
  for (const pool of pools.values()) {
    if (pool.waiting.size === 0 || pool.growing > 0) continue;
    if (pool.nodes.size < (pool.max ?? pool.nodes.size)) continue;
    let staged = true;
    while (staged && pool.waiting.size > 0) {
      staged = false;
      for (const slot of pool.nodes) {
        if (!slot.active || slot.runnable.size > 0 || slot.staged.length >= room(slot)) continue;
        const request = pool.waiting.pop();
        if (!request) break;
        request.node = slot.id;
        slot.staged.push(request);
        staged = true;
        stage(request, slot);
      }
    }
  }
}
