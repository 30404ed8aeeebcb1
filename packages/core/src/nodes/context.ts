// Just over 400 lines, one concern: the host's side of one node (connect, handshake, requests,
// liveness, exit packet, close), driven by the node-context machine; options and events are in
// context-options.ts, liveness in liveness.ts, direct requests in direct.ts.
import { type Clock, type Link, type LinkCloseInfo, systemClock, TroupeError } from '@troupe/transport';
import {
  fulfilsWithin,
  machineInspector,
  reportUnhandledError,
  SafeEmitter,
  sendIfActive,
  type WriterQueueState,
} from '@troupe/transport/internal';
import { type Actor, createActor } from 'xstate';
import { InvalidOptionError, NodeClosedError, NodeConnectionFailedError } from '../errors.js';
import { createIdSource } from '../ids.js';
import {
  type Packet,
  type PacketBodies,
  PacketRegistry,
  PacketType,
  type PacketTypeName,
} from '../packets.js';
import { internalSeams } from '../seams.js';
import type { NodeProcess } from '../system/launcher.js';
import type { NodeContextEvents, NodeContextOptions, NodeKind } from './context-options.js';
import { DirectRequests } from './direct.js';
import type { NodeHost } from './host.js';
import { NodeLiveness, type PingTimes } from './liveness.js';
import {
  bindNodeContextEffects,
  type ExitPacketState,
  type LivenessState,
  type NodeConnectionState,
  type NodeContextEvent,
  nodeContextMachine,
  onRegionMoved,
} from './node-context.machine.js';

export type { NodeContextEvents, NodeContextOptions, NodeContextSeams, NodeKind } from './context-options.js';
export type { PingTimes } from './liveness.js';

/**
 * The host's side of one node: its link and the link's life (connect, handshake, pings, close,
 * the exit packet), run by the node-context machine. Of the packets the node sends, what anyone
 * may watch becomes an event (`ready`, `log`, `shutdown`), a Pong is the context's own, and the
 * conversation (results, blocks, yields, job errors) goes to the node's one host (`NodeHost`).
 *
 * A connection that dies for any reason becomes a `shutdown` event with reason `ConnectionFailed`
 * and a `NodeConnectionFailedError` naming the node and how it ended, so whoever had requests on
 * it fails them. Nothing is lost silently.
 */
export class NodeContext extends SafeEmitter<NodeContextEvents> {
  readonly id: string;
  readonly kind: NodeKind;
  /** Which connection of the node this is (NodeConfiguration `incarnation`): 1 for its first. */
  readonly incarnation: number;
  readonly process: NodeProcess | undefined;
  /** Where it runs: 'local', a remote launcher prefix, or an endpoint URL (`NodeContextOptions.location`). */
  readonly location: string;
  /** Set once the node accepted this host. */
  pid: number | undefined;
  readonly #machine: Actor<typeof nodeContextMachine>;
  readonly #packets = new PacketRegistry();
  readonly #direct: DirectRequests;
  /** Who hears the node's conversation: `#direct`, until a runtime or job worker attaches for good. */
  #host: NodeHost;
  readonly #clock: Clock;
  readonly #options: NodeContextOptions;
  #link: Link | undefined;
  #failure: Error | undefined;
  readonly #closed: Promise<void>;
  readonly #liveness: NodeLiveness;
  readonly #writesAfterExitPacket: boolean;

  constructor(options: NodeContextOptions) {
    super();
    this.id = options.id;
    this.kind = options.kind;
    this.process = options.process;
    this.location = options.location ?? 'local';
    this.pid = options.process?.pid;
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.incarnation = options.incarnation ?? 1;
    if (!Number.isSafeInteger(this.incarnation) || this.incarnation < 1)
      throw new InvalidOptionError('incarnation', 'an integer from 1', options.incarnation);
    this.#liveness = new NodeLiveness(this.#clock, options.heartbeat, this.id);
    this.setPingTimes(options.ping ?? {});
    this.#direct = new DirectRequests({
      id: this.id,
      ids: options.ids ?? createIdSource(),
      send: (kind, body) => this.send(kind, body),
    });
    this.#host = this.#direct;
    let ended!: () => void;
    this.#closed = new Promise((resolve) => {
      ended = resolve;
    });
    const liveness = this.#liveness;
    const seams = options[internalSeams];
    this.#writesAfterExitPacket = seams?.writesAfterExitPacket ?? false;
    // A variant's seam provides its bug on the machine; effects are bound per actor (no provide() per context).
    this.#machine = createActor(seams?.machine ? seams.machine(nodeContextMachine) : nodeContextMachine, {
      clock: this.#clock,
      inspect: machineInspector(),
      input: {
        effects: bindNodeContextEffects({
          holdsWork: () => liveness.watched(),
          heartbeats: () => liveness.heartbeat !== undefined,
          silentFor: () => liveness.silentFor(),
          pingIntervalMs: () => liveness.times.intervalMs,
          pingTimeoutMs: () => liveness.times.timeoutMs,
          watchFromNow: () => liveness.watchFromNow(),
          ping: () => this.#sendPing(),
          declareLost: () => queueMicrotask(() => this.#declareLost()),
          ended: () => ended(),
        }),
      },
    });
    onRegionMoved(
      this.#machine,
      (region, state) => this.emitSafely('state', region, state),
      reportUnhandledError,
    );
    this.#machine.start();
  }

  /** Events for a machine that already reached its final state are late news: dropped, not warned about. */
  #toMachine(event: NodeContextEvent): void {
    sendIfActive(this.#machine, event);
  }

  get state(): NodeConnectionState {
    const connection = this.#machine.getSnapshot().value.connection;
    return typeof connection === 'string' ? connection : 'active';
  }

  /** Its link's writer-queue machine state (the dashboard shows it); undefined before the link exists. */
  get writerState(): WriterQueueState | undefined {
    return this.#link?.writerState;
  }

  /** While active: whether the node is pinged (it holds requests) or quiet; undefined otherwise. */
  get liveness(): LivenessState | undefined {
    const connection = this.#machine.getSnapshot().value.connection;
    return typeof connection === 'string' ? undefined : connection.active;
  }

  /** The ping interval and silence bound in force. */
  get pingTimes(): Readonly<PingTimes> {
    return this.#liveness.times;
  }

  /** The heartbeat times the node was given (NodeConfiguration), if its provider asked for heartbeats. */
  get heartbeat(): Readonly<PingTimes> | undefined {
    return this.#liveness.heartbeat;
  }

  /**
   * Changes the ping interval and silence bound (the runtime passes its `nodes.ping*` options).
   * A node with heartbeats keeps the times it was told when it connected: this changes nothing.
   */
  setPingTimes(times: Partial<PingTimes>): void {
    this.#liveness.setTimes(times, this.id);
  }

  get exitPacket(): ExitPacketState {
    return this.#machine.getSnapshot().value.exitPacket;
  }

  /** Requests the node holds: sent (BuildRequest) and not yet ended there (BuildResult). */
  get holding(): number {
    return this.#liveness.held.size;
  }

  /** Direct requests (`request`) sent and not yet answered. */
  get inFlight(): number {
    return this.#direct.inFlight;
  }

  /** Why the connection failed, once it has. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** Resolves when the context is closed or failed. */
  get whenClosed(): Promise<void> {
    return this.#closed;
  }

  /**
   * Connects, handshakes, and presents this host (NodeConfiguration); resolves when the node has
   * accepted (NodeReady). Rejects if the node refuses (busy) or the connection fails first.
   */
  async start(hostPid: number): Promise<void> {
    let link: Link;
    try {
      link = await this.#options.connect((created) => {
        this.#link = created;
        this.#toMachine({ type: 'link.created' });
      });
    } catch (error) {
      this.#failure = error as Error;
      this.#toMachine({ type: 'connect.failed' });
      throw error;
    }
    this.#link = link;
    const ready = new Promise<void>((resolve, reject) => {
      const timer = this.#clock.setTimeout(
        () => finish(new NodeClosedError(this.id, 'the node did not accept this host in time')),
        this.#options.readyTimeoutMs ?? 30_000,
      );
      const finish = (error?: Error) => {
        this.#clock.clearTimeout(timer);
        this.off('ready', onReady);
        this.off('shutdown', onShutdown);
        if (error) reject(error);
        else resolve();
      };
      const onReady = () => finish();
      const onShutdown = (body: PacketBodies['NodeShutdown'], error: Error | undefined) =>
        finish(error ?? new NodeClosedError(this.id, `the node refused this host (${body.reason})`));
      this.once('ready', onReady);
      this.once('shutdown', onShutdown);
    });
    link.on('packet', (type, body) => this.#onPacket(type, body));
    link.on('close', (info) => this.#onLinkClosed(info));
    this.#toMachine({ type: 'link.opened' });
    const heartbeat = this.#liveness.heartbeat;
    link.send(PacketType.NodeConfiguration, {
      nodeId: this.id,
      hostPid,
      nodeReuse: this.#options.nodeReuse ?? false,
      incarnation: this.incarnation,
      ...(heartbeat && { heartbeat: { intervalMs: heartbeat.intervalMs, timeoutMs: heartbeat.timeoutMs } }),
    } satisfies PacketBodies['NodeConfiguration']);
    try {
      await ready;
    } catch (error) {
      await link.destroy();
      throw error;
    }
  }

  /**
   * Hands the node's conversation to `host` (a runtime's build host, a job worker) for good: its
   * results, blocks, yields and job errors go there from now on, and `request` is refused. A
   * node has one host; this one must have no direct request in flight.
   */
  attachHost(host: NodeHost): void {
    if (this.#host !== this.#direct) throw new TroupeError(`node ${this.id} already has a host`);
    if (this.#direct.inFlight > 0)
      throw new TroupeError(`node ${this.id} has direct requests in flight; it cannot change hosts`);
    this.#host = host;
  }

  /** Sends one packet. Throws `NodeClosedError` once the exit packet was sent or the link is gone. */
  send<K extends PacketTypeName>(kind: K, body: PacketBodies[K]): boolean {
    const link = this.#link;
    if (this.#writesAfterExitPacket && link?.state === 'open') return link.send(PacketType[kind], body);
    if (this.exitPacket !== 'none') throw new NodeClosedError(this.id, 'the exit packet was already sent');
    if (!link || this.state !== 'active')
      throw new NodeClosedError(this.id, `the connection is ${this.state}`);
    if (kind === 'BuildRequest') this.#hold((body as PacketBodies['BuildRequest']).id);
    return link.send(PacketType[kind], body);
  }

  /** The node holds one more request; a node that held none starts being watched. */
  #hold(id: string): void {
    const held = this.#liveness.held;
    held.add(id);
    // A node still watched from its last busy spell (it goes quiet at its next tick) costs no event.
    if (held.size === 1 && this.liveness === 'quiet') this.#toMachine({ type: 'work.held' });
  }

  #sendPing(): void {
    this.#liveness.ticked();
    const link = this.#link;
    if (link?.state !== 'open' || this.exitPacket !== 'none') return;
    link.send(PacketType.Ping, { seq: this.#liveness.nextSeq() } satisfies PacketBodies['Ping']);
  }

  /**
   * The node did not answer pings within the bound (or its host gave up on it): it is killed (a
   * stopped process does not answer even a polite close), and what it held fails with
   * `NodeUnresponsiveError`, or runs again elsewhere, at once: the host hears of it now, through
   * the same `shutdown` event as any lost connection, not once the link is gone.
   *
   * The link is closed, not cut: what the node wrote before it ended still arrives (its last log
   * lines), within the link's close timeout. So does anything a node that was only slow, or behind
   * a partition that heals, still sends about its requests; its host must not apply that (they may
   * be running again elsewhere, under the same node id on a later incarnation): the build host
   * drops it as from a lost incarnation.
   */
  #declareLost(): void {
    // Entered once (the machine's lost state); whatever happened since (a shutdown cut the link),
    // the node is killed.
    const error = this.#liveness.lose(this.id, this.pid, this.location);
    try {
      if (this.#options.kill) this.#options.kill();
      else this.process?.killTree();
    } catch (killError) {
      reportUnhandledError(killError);
    }
    const link = this.#link;
    // A link that failed first is on its way through #fail, which reads the liveness verdict.
    if (this.#failure === undefined && !(link && link.state === 'closed')) this.#failed(error);
    if (link && link.state !== 'closed' && link.state !== 'closing') void link.close();
  }

  /**
   * The host gives up on the node (it did not end a cancelled run in time): declared lost as a
   * silent node is, killed, and what it held fails with `reason`. Does nothing unless the node is
   * active: one that is closing or gone is on its way out already.
   */
  abandon(reason: Error): void {
    if (this.state !== 'active') return;
    this.#liveness.giveUp(reason);
    this.#toMachine({ type: 'node.abandoned' });
  }

  /**
   * Resolves when everything sent so far has been handed to the connection; rejects if the link
   * closes first.
   */
  flushed(): Promise<void> {
    const link = this.#link;
    if (!link) return Promise.reject(new NodeClosedError(this.id, `the connection is ${this.state}`));
    return link.flushed();
  }

  /**
   * The low-level door: runs one task on this node directly, outside any scheduler, and resolves
   * with its result (`DirectRequests`). For a node you hold yourself (a provider's `acquire`); a
   * node in a runtime's pool or a job worker belongs to that host, and refuses. A runtime's
   * `build` is the way to run requests that wait on each other or yield.
   */
  request(task: string, input: unknown, options: { signal?: AbortSignal } = {}): Promise<unknown> {
    // Once another host has the node, the door is shut for good.
    if (this.#host !== this.#direct)
      return Promise.reject(
        new TroupeError(`node ${this.id} belongs to a runtime or a job worker: run work through it`),
      );
    return this.#direct.request(task, input, options);
  }

  /**
   * Ends the build on this node: NodeBuildComplete with or without reuse. Without reuse, waits
   * up to `drainTimeoutMs` for the exit packet to reach the socket. Resolves when the link is
   * closed. Process exit and the kill that may follow are the provider's business.
   */
  async close(options: { reuse: boolean; drainTimeoutMs?: number }): Promise<void> {
    const link = this.#link;
    // The link may already be going while this context has not heard yet (the node's process
    // exited, and its exit was seen before its socket's end): nothing can be said to it then.
    if (!link || this.state !== 'active' || link.state !== 'open') {
      if (link && this.state !== 'closed' && this.state !== 'failed') await link.destroy();
      return this.#closed;
    }
    link.send(PacketType.NodeBuildComplete, {
      prepareForReuse: options.reuse,
    } satisfies PacketBodies['NodeBuildComplete']);
    this.#toMachine({ type: 'context.closing' });
    if (!options.reuse) {
      this.#toMachine({ type: 'exit.queued' });
      const flushed = await fulfilsWithin(this.#clock, link.flushed(), options.drainTimeoutMs ?? 100);
      if (flushed) this.#toMachine({ type: 'exit.sent' });
      // Only under the seam `writesAfterExitPacket`: the link stays open until the node hangs up.
      if (this.#writesAfterExitPacket) return this.#closed;
    }
    await link.close();
    return this.#closed;
  }

  #onPacket(type: number, body: unknown): void {
    let packet: Packet;
    try {
      packet = this.#packets.decode(type, body);
    } catch (error) {
      // Bad input from the node: close this one link with the protocol error.
      void this.#link?.destroy(error as Error);
      return;
    }
    switch (packet.type) {
      case 'Pong':
        this.#liveness.answered();
        return;
      case 'NodeReady':
        this.pid ??= packet.body.pid;
        this.emitSafely('ready', packet.body);
        return;
      case 'NodeShutdown':
        this.emitSafely('shutdown', packet.body, undefined);
        return;
      case 'Log':
        this.emitSafely('log', packet.body);
        return;
      case 'BuildResult':
        this.#liveness.held.delete(packet.body.id);
        break;
      case 'BuildBlocked':
      case 'Yield':
      case 'Reacquire':
      case 'JobError':
        break;
      default:
        // A packet only a host sends (BuildRequest, Ping...) means nothing coming from a node.
        return;
    }
    try {
      this.#host.receive(packet);
    } catch (error) {
      reportUnhandledError(error);
    }
  }

  #onLinkClosed(info: LinkCloseInfo): void {
    // The one rule for an orderly close: this side was closing, the link ended cleanly, and the
    // host has no caller still waiting for an answer from the node.
    const orderly =
      this.state === 'closing' &&
      (info.reason === 'closed' || info.reason === 'closed-by-peer') &&
      !this.#host.awaitsAnswers();
    if (orderly) {
      this.#toMachine({ type: 'link.closed' });
      this.emitSafely('closed');
      return;
    }
    void this.#fail(info);
  }

  async #fail(info: LinkCloseInfo): Promise<void> {
    // Give the process a moment to report how it ended, so the error can say "killed by SIGKILL".
    const process = this.process;
    if (process && !process.exit()) {
      const exited = new Promise<void>((resolve) => process.onExit(() => resolve()));
      await fulfilsWithin(this.#clock, exited, this.#options.exitGraceMs ?? 1_000);
    }
    // A node declared lost was failed at the verdict; its link is only now gone.
    if (this.#failure === undefined)
      this.#failed(
        this.#liveness.lost ??
          new NodeConnectionFailedError(this.id, this.pid, process?.exit(), process?.outputTail(2048) ?? '', {
            cause: info.error ?? new Error(`link ${info.reason}`),
            location: this.location,
          }),
      );
    this.#toMachine({ type: 'link.closed' });
    this.emitSafely('closed');
  }

  /** The connection has failed, for `error`: whoever had requests on it hears so, once. */
  #failed(error: Error): void {
    this.#failure = error;
    this.#liveness.held.clear();
    this.emitSafely('shutdown', { reason: 'ConnectionFailed', error: { message: error.message } }, error);
    this.#direct.connectionFailed(error);
  }
}
