import { threadId } from 'node:worker_threads';
import {
  type Clock,
  type Link,
  type Listener,
  type ListenOptions,
  reportUnhandledError,
  systemClock,
  type Transport,
} from '@troupe/transport';
import { EventEmitter } from 'eventemitter3';
import { type Actor, createActor } from 'xstate';
import { MalformedPacketError } from '../errors.js';
import { type NodeEndpointState, nodeEndpointMachine } from '../machines/node-endpoint.machine.js';
import { type PacketBodies, PacketRegistry, PacketType, serializeError } from '../packets.js';
import { TaskResolver } from '../tasks/resolve.js';

export interface NodeEndpointOptions {
  transport: Transport;
  /** Passed to `transport.listen`: address, handshake options, secret, limits. */
  listen?: ListenOptions;
  /** Exit after this long without a host (fresh or idle). Default 15 minutes, as MSBuild. */
  idleTimeoutMs?: number;
  clock?: Clock;
}

export interface NodeEndpointEvents {
  listening: [address: string];
  /** A line worth logging: refused connections, protocol errors, state changes. */
  log: [message: string];
  state: [state: NodeEndpointState];
  exit: [];
}

/**
 * The child side of a node (what `troupe node` runs, and what thread and in-process nodes run
 * inside the host). Listens, takes one host at a time, runs its requests, and then either stays
 * idle for the next host or exits.
 *
 * Whatever a stranger sends (a wrong handshake, garbage, a truncated frame, an absurd length)
 * closes that stranger's link with a logged reason; the endpoint keeps waiting for its host.
 */
export class NodeEndpoint extends EventEmitter<NodeEndpointEvents> {
  readonly address: string;
  /** Resolves when the endpoint has exited: listener closed, host link flushed and closed. */
  readonly exited: Promise<void>;
  readonly #listener: Listener;
  readonly #machine: Actor<typeof nodeEndpointMachine>;
  readonly #packets = new PacketRegistry();
  readonly #tasks = new TaskResolver();
  readonly #links = new Set<Link>();
  readonly #running = new Map<string, AbortController>();
  #host: Link | undefined;
  #resolveExited!: () => void;

  static async start(options: NodeEndpointOptions): Promise<NodeEndpoint> {
    const listener = await options.transport.listen(options.listen);
    return new NodeEndpoint(listener, options);
  }

  private constructor(listener: Listener, options: NodeEndpointOptions) {
    super();
    this.#listener = listener;
    this.address = listener.address;
    this.exited = new Promise((resolve) => {
      this.#resolveExited = resolve;
    });
    this.#machine = createActor(
      nodeEndpointMachine.provide({
        actions: {
          acceptHost: (_, { linkId }) => this.#acceptHost(linkId),
          refuseHost: (_, { linkId }) => this.#refuseHost(linkId),
          releaseHost: () => this.#releaseHost(),
          resetBuildState: () => this.#running.clear(),
          exit: () => {
            void this.#shutdown();
          },
        },
      }),
      { clock: options.clock ?? systemClock, input: { idleTimeoutMs: options.idleTimeoutMs ?? 15 * 60_000 } },
    );
    this.#machine.subscribe({
      next: (snapshot) => this.#emit('state', snapshot.value as NodeEndpointState),
      error: reportUnhandledError,
    });
    listener.on('link', (link) => this.#onLink(link));
    listener.on('rejected', (error, peer) =>
      this.#log(`refused a connection from ${peer}: ${error.message}`),
    );
    this.#machine.start();
    queueMicrotask(() => this.#emit('listening', this.address));
  }

  get state(): NodeEndpointState {
    return this.#machine.getSnapshot().value as NodeEndpointState;
  }

  /** Requests currently running. */
  get running(): number {
    return this.#running.size;
  }

  /** Exit now: running requests are cancelled, the host link is flushed and closed. */
  exit(): Promise<void> {
    this.#machine.send({ type: 'endpoint.exit' });
    return this.exited;
  }

  #onLink(link: Link): void {
    this.#links.add(link);
    link.on('packet', (type, body) => this.#onPacket(link, type, body));
    link.on('close', ({ reason, error }) => {
      this.#links.delete(link);
      if (link === this.#host) {
        this.#log(`host link closed (${reason}${error ? `: ${error.message}` : ''})`);
        this.#machine.send({ type: 'host.lost', linkId: link.id });
      } else if (reason !== 'closed' && reason !== 'closed-by-peer') {
        this.#log(`closed a connection from ${link.peer} (${reason}${error ? `: ${error.message}` : ''})`);
      }
    });
  }

  #onPacket(link: Link, type: number, body: unknown): void {
    let packet: ReturnType<PacketRegistry['decode']>;
    try {
      packet = this.#packets.decode(type, body);
    } catch (error) {
      this.#log(`closing the connection from ${link.peer}: ${(error as Error).message}`);
      void link.destroy(error as Error);
      return;
    }
    if (link !== this.#host) {
      if (packet.type !== 'NodeConfiguration') {
        const error = new MalformedPacketError(
          String(packet.type),
          'a host must send NodeConfiguration first',
        );
        this.#log(`closing the connection from ${link.peer}: ${error.message}`);
        void link.destroy(error);
        return;
      }
      this.#machine.send({ type: 'host.offered', linkId: link.id, reuse: packet.body.nodeReuse });
      return;
    }
    switch (packet.type) {
      case 'BuildRequest':
        void this.#run(link, packet.body);
        break;
      case 'Cancel':
        this.#running.get(packet.body.id)?.abort(packet.body.reason ?? 'cancelled by the host');
        break;
      case 'NodeBuildComplete':
        this.#machine.send({
          type: 'build.completed',
          linkId: link.id,
          prepareForReuse: packet.body.prepareForReuse,
        });
        break;
      default:
        // Packets the node does not act on yet (scheduler and job packets arrive with their features).
        break;
    }
  }

  #acceptHost(linkId: string): void {
    this.#host = [...this.#links].find((link) => link.id === linkId);
    this.#host?.send(PacketType.NodeReady, {
      pid: process.pid,
      threadId,
    } satisfies PacketBodies['NodeReady']);
  }

  #refuseHost(linkId: string): void {
    const link = [...this.#links].find((candidate) => candidate.id === linkId);
    if (!link) return;
    this.#log(`refused a second host from ${link.peer}: already serving one`);
    try {
      link.send(PacketType.NodeShutdown, { reason: 'Busy' } satisfies PacketBodies['NodeShutdown']);
    } catch {
      // The link closed meanwhile; nothing to tell.
    }
    void link.close();
  }

  #releaseHost(): void {
    for (const controller of this.#running.values()) controller.abort('the host released the node');
    const host = this.#host;
    this.#host = undefined;
    if (host) void host.close();
  }

  async #run(link: Link, request: PacketBodies['BuildRequest']): Promise<void> {
    const controller = new AbortController();
    this.#running.set(request.id, controller);
    let result: PacketBodies['BuildResult'];
    try {
      const task = await this.#tasks.resolve(request.task);
      const value = await task(request.input, {
        requestId: request.id,
        signal: controller.signal,
        log: (message, level = 'info') => {
          if (link.state === 'open') link.send(PacketType.Log, { requestId: request.id, level, message });
        },
      });
      result = { id: request.id, ok: true, value };
    } catch (error) {
      result = { id: request.id, ok: false, error: serializeError(error) };
    }
    if (this.#running.get(request.id) !== controller) return;
    this.#running.delete(request.id);
    if (link.state === 'open') {
      try {
        link.send(PacketType.BuildResult, result);
      } catch (error) {
        // A result that cannot be encoded is itself a failure the host must hear about.
        link.send(PacketType.BuildResult, { id: request.id, ok: false, error: serializeError(error) });
      }
    }
  }

  async #shutdown(): Promise<void> {
    await this.#listener.close();
    await Promise.all([...this.#links].map((link) => link.close()));
    this.#machine.stop();
    this.#emit('exit');
    this.#resolveExited();
  }

  #log(message: string): void {
    this.#emit('log', message);
  }

  #emit<E extends keyof NodeEndpointEvents>(event: E, ...args: NodeEndpointEvents[E]): void {
    try {
      (this.emit as (e: E, ...a: NodeEndpointEvents[E]) => boolean)(event, ...args);
    } catch (error) {
      reportUnhandledError(error);
    }
  }
}
