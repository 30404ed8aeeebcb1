import {
  type Clock,
  type HandshakeOptions,
  MemoryTransport,
  type RandomSource,
  systemRandom,
} from '@troupe/transport';
import { NodeEndpoint } from '../endpoint/endpoint.js';
import { createIdSource, type IdSource } from '../ids.js';
import { checkShape, clock, handshakeShape, random, type Shape, shape, withMethods } from '../options.js';
import { NodeContext } from './context.js';
import { HostedNodeProvider } from './hosted.js';

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
export class InProcessNodeProvider extends HostedNodeProvider<NodeEndpoint> {
  readonly kind = 'inproc' as const;
  readonly #transport: MemoryTransport;
  readonly #options: InProcessNodeProviderOptions;
  readonly #ids: IdSource;

  constructor(options: InProcessNodeProviderOptions = {}) {
    super();
    checkShape(options, inprocShape, '');
    this.#options = options;
    const random = options.random ?? systemRandom;
    this.#transport = options.transport ?? new MemoryTransport({ random });
    this.#ids = createIdSource(random);
  }

  /** The endpoint (child side) of a node, for tests and diagnostics. */
  endpointOf(node: NodeContext): NodeEndpoint | undefined {
    return this.resourceOf(node);
  }

  protected async create(): Promise<{ node: NodeContext; resource: NodeEndpoint }> {
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
      // Declared lost: ended as a kill would end a process.
      kill: () => void endpoint.kill(),
      connect: (onLink) =>
        this.#transport.connect(endpoint.address, { handshake, onLink, ...(clock && { clock }) }),
    });
    return { node, resource: endpoint };
  }

  protected async end(_node: NodeContext, endpoint: NodeEndpoint): Promise<void> {
    await endpoint.exit();
  }
}

const inprocShape: Shape<InProcessNodeProviderOptions> = {
  transport: withMethods('a MemoryTransport', ['connect', 'listen']),
  clock,
  random,
  handshake: shape(handshakeShape),
};
