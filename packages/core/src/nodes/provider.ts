import type { NodeContext, NodeKind } from './context.js';

export interface AcquireOptions {
  signal?: AbortSignal;
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
 */
export interface NodeProvider {
  readonly kind: NodeKind;
  /** Gets `count` nodes, started in parallel; resolves when all accepted this host. */
  acquire(count: number, options?: AcquireOptions): Promise<NodeContext[]>;
  /** Ends the build on these nodes (all of this provider's when omitted) and waits until they
   * are gone, or idle for reuse. */
  shutdown(nodes?: readonly NodeContext[], options?: ReleaseOptions): Promise<void>;
}
