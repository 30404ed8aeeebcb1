import { type Clock, type Link, type LinkCloseInfo, systemClock } from '@troupe/transport';
import {
  machineInspector,
  reportUnhandledError,
  SafeEmitter,
  sendIfActive,
} from '@troupe/transport/internal';
import { type Actor, createActor } from 'xstate';
import {
  NodeClosedError,
  NodeConnectionFailedError,
  type NodeExit,
  RequestCancelledError,
} from '../errors.js';
import { createIdSource, type IdSource } from '../ids.js';
import {
  type Packet,
  type PacketBodies,
  PacketRegistry,
  PacketType,
  type PacketTypeName,
  taskFailure,
} from '../packets.js';
import { internalSeams, type MachineSeam } from '../seams.js';
import type { NodeProcess } from '../system/launcher.js';
import { NodeLiveness, type PingTimes } from './liveness.js';
import {
  type ExitPacketState,
  type LivenessState,
  type NodeConnectionState,
  type NodeContextEvent,
  nodeContextMachine,
  provideNodeContext,
} from './node-context.machine.js';

export type NodeKind = 'inproc' | 'thread' | 'process' | 'remote';

export interface NodeContextOptions {
  id: string;
  kind: NodeKind;
  /** Opens the link; must call `onLink` as soon as the link exists (before its handshake ends). */
  connect: (onLink: (link: Link) => void) => Promise<Link>;
  /** The node's process, when it has one: its exit and output tail go into failure reports. */
  process?: NodeProcess;
  nodeReuse?: boolean;
  clock?: Clock;
  ids?: IdSource;
  /** How long to wait for the process to report its exit after the link dies, so the error can
   * say how the node ended. Default 1 s (a loaded machine can be slow to deliver the exit). */
  exitGraceMs?: number;
  /** How long to wait for the node to accept this host (NodeReady) after the handshake. Default 30 s. */
  readyTimeoutMs?: number;
  /** Pings while the node holds requests, and how long it may stay silent. See `PingTimes`. */
  ping?: Partial<PingTimes>;
  /**
   * Ends the node when it is declared lost (it did not answer pings). Default: kill its process's
   * tree (a thread node's "process" terminates the thread). In-process nodes pass their own.
   */
  kill?: () => void;
  /** The model checker's broken variants only (`@troupe/core/internal`). */
  [internalSeams]?: NodeContextSeams;
}

/** Where a test reaches inside one node context (see `internalSeams`). */
export interface NodeContextSeams {
  /**
   * Replaces the context's machine, e.g. by one whose liveness guard never declares a node lost.
   * Applied on top of the context's effects, since the guard it replaces reads them.
   */
  machine?: MachineSeam<typeof nodeContextMachine>;
  /**
   * Writes to a link that is still open after the exit packet was sent, and leaves the link open
   * for the node to hang up after an orderly close (the model checker's `send-after-exit`).
   */
  writesAfterExitPacket?: boolean;
}

export { DEFAULT_PING_TIMES, type PingTimes } from './liveness.js';

export interface NodeContextEvents {
  /** The node is going away: it said so, or the connection failed (reason ConnectionFailed). */
  shutdown: [body: PacketBodies['NodeShutdown'], error: Error | undefined];
  log: [body: PacketBodies['Log']];
  /** The node accepted this host. */
  ready: [body: PacketBodies['NodeReady']];
  closed: [];
}

type Handler = (body: never) => void;

/**
 * The host's side of one node: its link, a read loop that routes each packet to the handlers
 * registered for its kind, the requests in flight, and the lifecycle machine.
 *
 * A connection that dies for any reason becomes a `NodeShutdown { reason: 'ConnectionFailed' }`
 * routed to the same handlers, and every request the node held fails with a
 * `NodeConnectionFailedError` naming the node and how it ended. Nothing is lost silently.
 */
export class NodeContext extends SafeEmitter<NodeContextEvents> {
  readonly id: string;
  readonly kind: NodeKind;
  readonly process: NodeProcess | undefined;
  /** Set once the node accepted this host. */
  pid: number | undefined;
  readonly #machine: Actor<typeof nodeContextMachine>;
  readonly #packets = new PacketRegistry();
  readonly #handlers = new Map<string, Set<Handler>>();
  readonly #pending = new Map<
    string,
    { task: string; resolve: (value: unknown) => void; reject: (error: Error) => void; cleanup: () => void }
  >();
  readonly #clock: Clock;
  readonly #ids: IdSource;
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
    this.pid = options.process?.pid;
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#ids = options.ids ?? createIdSource();
    this.#liveness = new NodeLiveness(this.#clock);
    this.setPingTimes(options.ping ?? {});
    let ended!: () => void;
    this.#closed = new Promise((resolve) => {
      ended = resolve;
    });
    const liveness = this.#liveness;
    const provided = provideNodeContext(nodeContextMachine, {
      holdsWork: () => liveness.held.size > 0,
      silentFor: () => liveness.silentFor(),
      pingIntervalMs: () => liveness.times.intervalMs,
      pingTimeoutMs: () => liveness.times.timeoutMs,
      watchFromNow: () => liveness.watchFromNow(),
      ping: () => this.#sendPing(),
      declareLost: () => queueMicrotask(() => this.#declareLost()),
      ended: () => ended(),
    });
    const seams = options[internalSeams];
    this.#writesAfterExitPacket = seams?.writesAfterExitPacket ?? false;
    // The seam goes on top of the effects: the liveness guard it replaces reads the clock.
    const machine = seams?.machine ? seams.machine(provided) : provided;
    this.#machine = createActor(machine, { clock: this.#clock, inspect: machineInspector() });
    this.#machine.subscribe({ error: reportUnhandledError });
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

  /** While active: whether the node is pinged (it holds requests) or quiet; undefined otherwise. */
  get liveness(): LivenessState | undefined {
    const connection = this.#machine.getSnapshot().value.connection;
    return typeof connection === 'string' ? undefined : connection.active;
  }

  /** The ping interval and silence bound in force. */
  get pingTimes(): Readonly<PingTimes> {
    return this.#liveness.times;
  }

  /** Changes the ping interval and silence bound (the runtime passes its `nodes.ping*` options). */
  setPingTimes(times: Partial<PingTimes>): void {
    this.#liveness.setTimes(times);
  }

  get exitPacket(): ExitPacketState {
    return this.#machine.getSnapshot().value.exitPacket;
  }

  /** Requests the node holds: sent (BuildRequest) and not yet ended there (BuildResult). */
  get holding(): number {
    return this.#liveness.held.size;
  }

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.#pending.size;
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
    link.send(PacketType.NodeConfiguration, {
      nodeId: this.id,
      hostPid,
      nodeReuse: this.#options.nodeReuse ?? false,
    } satisfies PacketBodies['NodeConfiguration']);
    try {
      await ready;
    } catch (error) {
      await link.destroy();
      throw error;
    }
  }

  /** Registers a handler for one packet kind; returns a function that removes it. */
  handle<K extends PacketTypeName>(kind: K, handler: (body: PacketBodies[K]) => void): () => void {
    let set = this.#handlers.get(kind);
    if (!set) {
      set = new Set();
      this.#handlers.set(kind, set);
    }
    set.add(handler as Handler);
    return () => set.delete(handler as Handler);
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
   * The node held requests and did not answer pings within the bound: it is killed (a stopped
   * process does not answer even a polite close), its link cut, and what it held fails with
   * `NodeUnresponsiveError` through the same path as any lost connection.
   */
  #declareLost(): void {
    // Entered once; whatever happened since (a shutdown cut the link), the node is killed.
    const error = this.#liveness.lose(this.id, this.pid);
    if (!error) return;
    try {
      if (this.#options.kill) this.#options.kill();
      else this.process?.killTree();
    } catch (killError) {
      reportUnhandledError(killError);
    }
    // A link already closed is on its way through #fail, which reads the liveness verdict.
    const link = this.#link;
    if (link && link.state !== 'closed') void link.destroy(error);
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

  /** Runs a task on the node and resolves with its result. */
  request(task: string, input: unknown, options: { signal?: AbortSignal } = {}): Promise<unknown> {
    const signal = options.signal;
    if (signal?.aborted)
      return Promise.reject(signal.reason ?? new RequestCancelledError('aborted before it started'));
    const id = this.#ids.next('req');
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.#pending.delete(id);
        try {
          this.send('Cancel', { id, reason: String(signal?.reason ?? 'aborted') });
        } catch {
          // The node is gone; there is nothing to cancel.
        }
        reject(signal?.reason ?? new RequestCancelledError(`request ${id} (${task}) was cancelled`));
      };
      const cleanup = () => signal?.removeEventListener('abort', onAbort);
      this.#pending.set(id, { task, resolve, reject, cleanup });
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        this.send('BuildRequest', { id, task, input });
      } catch (error) {
        this.#pending.delete(id);
        cleanup();
        reject(error);
      }
    });
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
      const flushed = await raceTimeout(this.#clock, link.flushed(), options.drainTimeoutMs ?? 100);
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
    this.#route(packet);
  }

  #route(packet: Packet): void {
    switch (packet.type) {
      case 'BuildResult': {
        this.#liveness.held.delete(packet.body.id);
        const pending = this.#pending.get(packet.body.id);
        if (pending) {
          this.#pending.delete(packet.body.id);
          pending.cleanup();
          if (packet.body.ok) pending.resolve(packet.body.value);
          else {
            pending.reject(taskFailure(pending.task, this.id, packet.body.error));
          }
        }
        break;
      }
      case 'Log':
        this.emitSafely('log', packet.body);
        break;
      case 'NodeShutdown':
        this.emitSafely('shutdown', packet.body, undefined);
        break;
      case 'Pong':
        this.#liveness.answered();
        break;
      case 'NodeReady':
        this.pid ??= packet.body.pid;
        this.emitSafely('ready', packet.body);
        break;
      default:
        break;
    }
    this.#dispatch(packet.type, packet.body);
  }

  #dispatch(kind: string, body: unknown): void {
    const handlers = this.#handlers.get(kind);
    if (!handlers) return;
    for (const handler of handlers) {
      try {
        (handler as (body: unknown) => void)(body);
      } catch (error) {
        reportUnhandledError(error);
      }
    }
  }

  #onLinkClosed(info: LinkCloseInfo): void {
    const orderly =
      this.state === 'closing' && (info.reason === 'closed' || info.reason === 'closed-by-peer');
    if (orderly && this.#pending.size === 0) {
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
      await new Promise<void>((resolve) => {
        const timer = this.#clock.setTimeout(resolve, this.#options.exitGraceMs ?? 1_000);
        process.onExit(() => {
          this.#clock.clearTimeout(timer);
          resolve();
        });
      });
    }
    const error =
      this.#liveness.lost ??
      new NodeConnectionFailedError(this.id, this.pid, process?.exit(), process?.outputTail(2048) ?? '', {
        cause: info.error ?? new Error(`link ${info.reason}`),
      });
    this.#failure = error;
    this.#liveness.held.clear();
    const body: PacketBodies['NodeShutdown'] = {
      reason: 'ConnectionFailed',
      error: { message: error.message },
    };
    this.emitSafely('shutdown', body, error);
    this.#dispatch('NodeShutdown', body);
    for (const [id, pending] of this.#pending) {
      this.#pending.delete(id);
      pending.cleanup();
      pending.reject(error);
    }
    this.#toMachine({ type: 'link.closed' });
    this.emitSafely('closed');
  }
}

export type { NodeExit };

function raceTimeout(clock: Clock, promise: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = clock.setTimeout(() => resolve(false), ms);
    const settle = (reached: boolean) => () => {
      clock.clearTimeout(timer);
      resolve(reached);
    };
    promise.then(settle(true), settle(false));
  });
}
