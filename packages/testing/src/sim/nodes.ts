import {
  type AcquireOptions,
  createIdSource,
  type IdSource,
  NodeContext,
  NodeEndpoint,
  type NodeProvider,
} from '@troupe/core';
import type { HandshakeOptions } from '@troupe/transport';
import type { SimulatedNode, Simulation } from './simulation.js';

/**
 * The simulated launcher: each "process" is a real `NodeEndpoint` running the real core code on
 * the simulation's memory links and clock. The simulator can crash one (its links are cut, as a
 * SIGKILL would) or hang it (it takes no more steps). Nodes are named `node-1`, `node-2`, ... in
 * the order they are started, so a schedule names the same node in every replay.
 */
export class SimulatedNodeProvider implements NodeProvider {
  readonly kind = 'inproc' as const;
  readonly #sim: Simulation;
  readonly #ids: IdSource;
  readonly #handshake: HandshakeOptions;
  readonly #prefix: string;
  readonly #endpoints = new Map<NodeContext, NodeEndpoint>();
  #started = 0;

  constructor(sim: Simulation, options: { handshake?: HandshakeOptions; prefix?: string } = {}) {
    this.#sim = sim;
    this.#ids = createIdSource(sim.random);
    this.#handshake = options.handshake ?? {};
    this.#prefix = options.prefix ?? 'node';
  }

  get nodes(): readonly NodeContext[] {
    return [...this.#endpoints.keys()];
  }

  endpointOf(node: NodeContext): NodeEndpoint | undefined {
    return this.#endpoints.get(node);
  }

  async acquire(count: number, options: AcquireOptions = {}): Promise<NodeContext[]> {
    options.signal?.throwIfAborted();
    return Promise.all(Array.from({ length: count }, () => this.#start()));
  }

  async shutdown(nodes: readonly NodeContext[] = this.nodes): Promise<void> {
    await Promise.all(
      nodes.map(async (node) => {
        const endpoint = this.#endpoints.get(node);
        this.#endpoints.delete(node);
        await node.close({ reuse: false });
        await endpoint?.exit();
      }),
    );
  }

  async #start(): Promise<NodeContext> {
    const sim = this.#sim;
    const name = `${this.#prefix}-${++this.#started}`;
    const endpoint = await NodeEndpoint.start({
      transport: sim.transport,
      listen: { address: name, handshake: this.#handshake, clock: sim.clock.for(name) },
      clock: sim.clock.for(name),
    });
    endpoint.on('state', (state) => sim.note(`  ${name}: endpoint → ${state}`));
    const simulated: SimulatedNode = {
      name,
      address: endpoint.address,
      get alive() {
        return endpoint.state !== 'exiting';
      },
      crash: () => {
        sim.note(`  ${name}: killed`);
        void endpoint.kill();
      },
    };
    sim.addNode(simulated);
    const node = new NodeContext({
      id: name,
      kind: 'inproc',
      ids: this.#ids,
      clock: sim.clock,
      connect: (onLink) =>
        sim.transport.connect(endpoint.address, { handshake: this.#handshake, onLink, clock: sim.clock }),
    });
    this.#endpoints.set(node, endpoint);
    try {
      await node.start(0);
    } catch (error) {
      this.#endpoints.delete(node);
      await endpoint.exit();
      throw error;
    }
    return node;
  }
}
