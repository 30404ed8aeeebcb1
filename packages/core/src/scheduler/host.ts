import type { ScheduledRequest } from './request.js';

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
  /**
   * Drop the continuation of a blocked restartable request on `node`: its task never goes on
   * past the `ctx.build` it waits in, and no result comes from that run. The request is started
   * again (`start`) elsewhere. Optional: a host without it gets no restarts.
   */
  restart?(request: ScheduledRequest, node: string): void;
  /** More nodes of `pool` would help; call `addNode` when one is up. Optional: a fixed pool never grows. */
  grow?(count: number, pool: string): void;
}
