import { NodeContext } from '@troupe/core';
import {
  createIdSource,
  HostedNodeProvider,
  type IdSource,
  internalSeams,
  type NodeContextSeams,
  NodeEndpoint,
  type NodeEndpointSeams,
} from '@troupe/core/internal';
import type { HandshakeOptions } from '@troupe/transport';
import { fulfilsWithin } from '@troupe/transport/internal';
import type { SimulatedNode, Simulation } from './simulation.js';

/**
 * The simulated launcher: each "process" is a real `NodeEndpoint` running the real core code on
 * the simulation's memory links and clock. The simulator can crash one (its links are cut, as a
 * SIGKILL would) or hang it (it takes no more steps). Nodes are named `node-1`, `node-2`, ... in
 * the order they are started, so a schedule names the same node in every replay.
 */
export class SimulatedNodeProvider extends HostedNodeProvider<NodeEndpoint> {
  readonly kind = 'inproc' as const;
  readonly #sim: Simulation;
  readonly #ids: IdSource;
  readonly #handshake: HandshakeOptions;
  readonly #prefix: string;
  readonly #contextSeams: NodeContextSeams | undefined;
  readonly #endpointSeams: NodeEndpointSeams | undefined;
  #started = 0;
  readonly #kills = new Map<NodeEndpoint, () => void>();

  /**
   * `[internalSeams]`: what each node's host side (its `NodeContext`) gets; `endpoints`: what
   * each node itself (its `NodeEndpoint`) gets. A broken variant's bug.
   */
  constructor(
    sim: Simulation,
    options: {
      handshake?: HandshakeOptions;
      prefix?: string;
      [internalSeams]?: NodeContextSeams;
      endpoints?: NodeEndpointSeams;
    } = {},
  ) {
    super();
    this.#sim = sim;
    this.#ids = createIdSource(sim.random);
    this.#handshake = options.handshake ?? {};
    this.#prefix = options.prefix ?? 'node';
    this.#contextSeams = options[internalSeams];
    this.#endpointSeams = options.endpoints;
  }

  endpointOf(node: NodeContext): NodeEndpoint | undefined {
    return this.resourceOf(node);
  }

  protected override hostPid(): number {
    return 0;
  }

  protected async create(): Promise<{ node: NodeContext; resource: NodeEndpoint }> {
    const sim = this.#sim;
    const number = ++this.#started;
    const name = `${this.#prefix}-${number}`;
    const clock = sim.clock.for(name);
    const endpoint = await NodeEndpoint.start({
      transport: sim.transport,
      listen: { address: name, handshake: this.#handshake, clock },
      clock,
      // Not the real pid: a trace (and a violation's message) must read the same in every
      // process that explores or replays the schedule.
      identity: { pid: number, threadId: 0 },
      ...(this.#endpointSeams && { [internalSeams]: this.#endpointSeams }),
    });
    const simulated = addEndpointNode(sim, name, endpoint);
    const kill = () => {
      simulated.crash();
      sim.network.discardTo(endpoint.address);
    };
    this.#kills.set(endpoint, kill);
    const node = new NodeContext({
      id: name,
      kind: 'inproc',
      ids: this.#ids,
      clock: sim.clock,
      // Declared lost by its host (it stopped answering pings): killed, as a process would be.
      kill,
      connect: (onLink) =>
        sim.transport.connect(endpoint.address, { handshake: this.#handshake, onLink, clock: sim.clock }),
      ...(this.#contextSeams && { [internalSeams]: this.#contextSeams }),
    });
    return { node, resource: endpoint };
  }

  /**
   * Asks the node to exit and, as the real providers do, kills it if it has not within 5 s (of
   * simulated time): a hung node takes no steps, so its orderly exit would never end.
   */
  protected async end(_node: NodeContext, endpoint: NodeEndpoint): Promise<void> {
    const sim = this.#sim;
    const exited = await fulfilsWithin(sim.clock, endpoint.exit(), 5_000);
    if (!exited) this.#kills.get(endpoint)?.();
  }
}

/**
 * Makes `endpoint` a node of the simulated world under `name`: its state changes noted in the
 * trace, alive until it exits, crashed by killing it. What every scenario's node is.
 */
export function addEndpointNode(sim: Simulation, name: string, endpoint: NodeEndpoint): SimulatedNode {
  endpoint.on('state', (state) => sim.note(`  ${name}: endpoint → ${state}`));
  const node: SimulatedNode = {
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
  sim.addNode(node);
  return node;
}
