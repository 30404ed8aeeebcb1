import { EventEmitter } from 'eventemitter3';
import { systemIdentity } from '../system/launcher.js';
import type { NodeContext, NodeKind } from './context.js';
import type { NodeExitStep } from './process-options.js';
import type { AcquireOptions, NodeProvider } from './provider.js';

export interface HostedNodeProviderEvents {
  /**
   * The end of what ran a node, step by step as for a process node: `waiting` for it to end
   * after the exit packet, then `exited`, or `killed` (a thread terminated once its exit timeout
   * passed) and `gone`.
   */
  exit: [node: NodeContext, step: NodeExitStep];
}

/**
 * What in-process and thread providers share: each node comes with something of the host's that
 * runs it (an endpoint, a worker), started together, and ended after the node's exit packet.
 */
export abstract class HostedNodeProvider<Resource>
  extends EventEmitter<HostedNodeProviderEvents>
  implements NodeProvider
{
  abstract readonly kind: NodeKind;
  readonly #nodes = new Map<NodeContext, Resource>();

  get nodes(): readonly NodeContext[] {
    return [...this.#nodes.keys()];
  }

  async acquire(count: number, options: AcquireOptions = {}): Promise<NodeContext[]> {
    options.signal?.throwIfAborted();
    // Settles only once every start has: a start that failed early (a handshake timed out on a
    // loaded machine) must not leave the others running on unseen, since the caller's shutdown
    // waits for this acquire and would miss a node that arrived after it, whose thread then held
    // the process open until its idle timeout.
    const starts = await Promise.allSettled(
      Array.from({ length: count }, () => this.#start(options.created)),
    );
    const nodes: NodeContext[] = [];
    for (const start of starts) if (start.status === 'fulfilled') nodes.push(start.value);
    const failure = starts.find((start) => start.status === 'rejected');
    if (failure) {
      // All or nothing, as for process nodes: the caller gets an error, not a partial set it
      // might forget to shut down.
      await this.shutdown(nodes);
      throw (failure as PromiseRejectedResult).reason;
    }
    return nodes;
  }

  async shutdown(nodes: readonly NodeContext[] = this.nodes): Promise<void> {
    await Promise.all(
      nodes.map(async (node) => {
        const resource = this.#nodes.get(node);
        this.#nodes.delete(node);
        await node.close({ reuse: false });
        if (resource !== undefined) await this.#end(node, resource);
      }),
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }

  /** Creates the node and what runs it; the node is not started yet. */
  protected abstract create(): Promise<{ node: NodeContext; resource: Resource }>;

  /**
   * Ends what ran the node, after its exit packet (or after it failed to start); calls `killing`
   * before it ends it by force rather than letting it end by itself.
   */
  protected abstract end(node: NodeContext, resource: Resource, killing: () => void): Promise<void>;

  /** The pid a node is told its host has (a simulation says the same in every run). */
  protected hostPid(): number {
    return systemIdentity().pid;
  }

  /** What runs `node`, while this provider holds it. */
  protected resourceOf(node: NodeContext): Resource | undefined {
    return this.#nodes.get(node);
  }

  async #start(created: AcquireOptions['created']): Promise<NodeContext> {
    const { node, resource } = await this.create();
    created?.(node, 'launched');
    try {
      await node.start(this.hostPid());
    } catch (error) {
      await this.#end(node, resource);
      throw error;
    }
    this.#nodes.set(node, resource);
    return node;
  }

  async #end(node: NodeContext, resource: Resource): Promise<void> {
    this.emit('exit', node, { step: 'waiting' });
    let killed = false;
    await this.end(node, resource, () => {
      killed = true;
      this.emit('exit', node, { step: 'killed' });
    });
    this.emit('exit', node, { step: killed ? 'gone' : 'exited' });
  }
}
