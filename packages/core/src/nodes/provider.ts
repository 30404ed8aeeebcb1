import type { NodeContext, NodeKind } from './context.js';
import type { PingTimes } from './liveness.js';

export interface AcquireOptions {
  signal?: AbortSignal;
  /**
   * Hears of each node the moment its context exists, before it connects, and how it came
   * (launched, or an idle node reused): what a timeline of its launch and handshake starts from.
   * A launch that is retried makes a new context for each attempt.
   */
  created?: (node: NodeContext, how: 'launched' | 'reused') => void;
  /**
   * The heartbeat times the host wants (the runtime's `nodes.heartbeat`), for the nodes this
   * provider gives heartbeats to (`NodeContextOptions.heartbeat`): those across a network. A
   * provider of local nodes ignores it.
   */
  heartbeat?: Partial<PingTimes>;
}

export interface ReleaseOptions {
  /** Leave the node running, idle, for a later host (process nodes started with reuse). */
  reuse?: boolean;
}

export interface NodeWarning {
  nodeId: string;
  pid: number | undefined;
  message: string;
}

/**
 * Where nodes come from. Each kind (in-process, thread, process, remote) has one provider; the
 * runtime asks it for nodes and gives them back.
 *
 * A node given to a runtime is fresh: it has no host yet (no runtime or job worker attached, no
 * direct `request` in flight), and the host that takes it keeps it for good. A provider never
 * hands out one node twice; a runtime given a node that is not fresh gives it back (`shutdown`)
 * and counts it as a growth that failed, so the requests waiting for it learn the error.
 */
export interface NodeProvider {
  readonly kind: NodeKind;
  /** Gets `count` nodes, started in parallel; resolves when all accepted this host. */
  acquire(count: number, options?: AcquireOptions): Promise<NodeContext[]>;
  /** Ends the build on these nodes (all of this provider's when omitted) and waits until they
   * are gone, or idle for reuse. */
  shutdown(nodes?: readonly NodeContext[], options?: ReleaseOptions): Promise<void>;
}
