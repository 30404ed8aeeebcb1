import { type AcquireOptions, NodeClosedError, NodeContext, type NodeProvider } from '@troupe/core';
import type { IdSource } from '@troupe/core/internal';
import type { Clock, ConnectOptions, HandshakeOptions, Transport } from '@troupe/transport';

/** A node endpoint that runs on its own (a static endpoint): its name and address. */
export interface StaticEndpoint {
  readonly name: string;
  readonly address: string;
}

export interface StaticEndpointProviderOptions {
  /** The simulation's memory transport, or TCP for a test's real `troupe node` processes. */
  transport: Transport;
  endpoints: readonly StaticEndpoint[];
  clock: Clock;
  ids: IdSource;
  handshake?: HandshakeOptions;
  /** The pid the nodes are told their host has (a simulation says the same in every run). */
  hostPid?: number;
  /**
   * More options for each connection: link timeouts (a simulation keeps them short, to keep
   * schedules short), or a TCP connection's.
   */
  link?: Omit<ConnectOptions, 'handshake' | 'onLink' | 'clock'> & Record<string, unknown>;
}

/**
 * Nodes that run on their own, as a remote node started by systemd or Kubernetes does (in a
 * simulation, over its memory transport; in a test, real `troupe node --reuse` processes): the host cannot kill them, only stop talking to them. Each acquire
 * connects to the first endpoint no live connection holds, with heartbeats (the host's times,
 * `AcquireOptions.heartbeat`) and for reuse, so a node that lost its host goes back to waiting and
 * can be connected to again. A node keeps its endpoint's name as its id on every connection; the
 * connection's `incarnation` counts them, from 1: what tells a lost connection's late packets from
 * the live one's.
 */
export class StaticEndpointProvider implements NodeProvider {
  readonly kind = 'remote' as const;
  readonly #options: StaticEndpointProviderOptions;
  /** Connections made to each endpoint so far: the next one's incarnation is one more. */
  readonly #connections = new Map<string, number>();
  /** The latest connection to each endpoint. */
  readonly #latest = new Map<string, NodeContext>();

  constructor(options: StaticEndpointProviderOptions) {
    this.#options = options;
  }

  /** Every connection's context, the latest of each endpoint. */
  get nodes(): readonly NodeContext[] {
    return [...this.#latest.values()];
  }

  async acquire(count: number, options: AcquireOptions = {}): Promise<NodeContext[]> {
    options.signal?.throwIfAborted();
    // The least used first, so a node lost and back is not the first one tried.
    const free = this.#options.endpoints
      .filter((endpoint) => !this.#held(endpoint))
      .sort((a, b) => (this.#connections.get(a.name) ?? 0) - (this.#connections.get(b.name) ?? 0));
    const starts = free.slice(0, count).map((endpoint) => this.#connect(endpoint, options));
    const settled = await Promise.allSettled(starts);
    const nodes = settled.flatMap((start) => (start.status === 'fulfilled' ? [start.value] : []));
    const failure = settled.find((start) => start.status === 'rejected');
    if (failure || nodes.length < count) {
      // All or nothing, as for the other providers.
      await this.shutdown(nodes);
      throw failure
        ? (failure as PromiseRejectedResult).reason
        : new NodeClosedError('static endpoints', `no free endpoint for ${count - nodes.length} more nodes`);
    }
    return nodes;
  }

  async shutdown(nodes: readonly NodeContext[] = this.nodes): Promise<void> {
    // The endpoints stay: they serve the next host (their owner ends them).
    await Promise.all(nodes.map((node) => node.close({ reuse: true })));
  }

  /**
   * A live connection holds the endpoint. One declared lost does not, though its link may not be
   * gone yet: the node drops a host it has not heard from by itself, and takes the next
   * connection then (until it has, it answers Busy, and the runtime tries again later).
   */
  #held(endpoint: StaticEndpoint): boolean {
    const node = this.#latest.get(endpoint.name);
    return node !== undefined && node.state !== 'failed' && node.state !== 'closed' && node.state !== 'lost';
  }

  async #connect(endpoint: StaticEndpoint, options: AcquireOptions): Promise<NodeContext> {
    const { transport, clock, ids } = this.#options;
    const handshake = { ...this.#options.handshake, nodeReuse: true };
    const incarnation = (this.#connections.get(endpoint.name) ?? 0) + 1;
    this.#connections.set(endpoint.name, incarnation);
    const node = new NodeContext({
      id: endpoint.name,
      kind: 'remote',
      incarnation,
      heartbeat: options.heartbeat ?? {},
      nodeReuse: true,
      clock,
      ids,
      connect: (onLink) =>
        transport.connect(endpoint.address, { ...this.#options.link, handshake, onLink, clock }),
    });
    this.#latest.set(endpoint.name, node);
    options.created?.(node, 'launched');
    await node.start(this.#options.hostPid ?? 0);
    return node;
  }
}
