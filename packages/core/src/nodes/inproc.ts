import {
  type Clock,
  type HandshakeOptions,
  MemoryTransport,
  type RandomSource,
  systemRandom,
} from '@troupe/transport';
import { createIdSource, type IdSource } from '../ids.js';
import { NodeEndpoint } from '../node/endpoint.js';
import { NodeContext } from './context.js';
import type { AcquireOptions, NodeProvider } from './provider.js';

export interface InProcessNodeProviderOptions {
  /** The in-memory transport nodes are reached over; pass one with a custom network to control delivery. */
  transport?: MemoryTransport;
  clock?: Clock;
  random?: RandomSource;
  handshake?: HandshakeOptions;
}

/**
 * Nodes on the host's own event loop, reached over in-memory links: the same node context, endpoint,
 * framing and handshake as a process node, without a process. What the simulator runs.
 */
export class InProcessNodeProvider implements NodeProvider {
  readonly kind = 'inproc' as const;
  readonly #transport: MemoryTransport;
  readonly #options: InProcessNodeProviderOptions;
  readonly #ids: IdSource;
  readonly #nodes = new Map<NodeContext, NodeEndpoint>();

  constructor(options: InProcessNodeProviderOptions = {}) {
    this.#options = options;
    const random = options.random ?? systemRandom;
    this.#transport = options.transport ?? new MemoryTransport({ random });
    this.#ids = createIdSource(random);
  }

  get nodes(): readonly NodeContext[] {
    return [...this.#nodes.keys()];
  }

  /** The endpoint (child side) of a node, for tests and diagnostics. */
  endpointOf(node: NodeContext): NodeEndpoint | undefined {
    return this.#nodes.get(node);
  }

  async acquire(count: number, options: AcquireOptions = {}): Promise<NodeContext[]> {
    options.signal?.throwIfAborted();
    return Promise.all(Array.from({ length: count }, () => this.#start()));
  }

  async #start(): Promise<NodeContext> {
    const id = this.#ids.next('node');
    const handshake = this.#options.handshake ?? {};
    const clock = this.#options.clock;
    const endpoint = await NodeEndpoint.start({
      transport: this.#transport,
      listen: { address: id, handshake, ...(clock && { clock }) },
      ...(clock && { clock }),
    });
    const node = new NodeContext({
      id,
      kind: 'inproc',
      ids: this.#ids,
      ...(clock && { clock }),
      connect: (onLink) =>
        this.#transport.connect(endpoint.address, { handshake, onLink, ...(clock && { clock }) }),
    });
    try {
      await node.start(process.pid);
    } catch (error) {
      await endpoint.exit();
      throw error;
    }
    this.#nodes.set(node, endpoint);
    return node;
  }

  async shutdown(nodes: readonly NodeContext[] = this.nodes): Promise<void> {
    await Promise.all(
      nodes.map(async (node) => {
        const endpoint = this.#nodes.get(node);
        this.#nodes.delete(node);
        await node.close({ reuse: false });
        await endpoint?.exit();
      }),
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }
}
