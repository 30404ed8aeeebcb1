import {
  type Clock,
  type Link,
  type Listener,
  type ListenOptions,
  systemClock,
  type Transport,
} from '@troupe/transport';
import {
  machineInspector,
  reportUnhandledError,
  SafeEmitter,
  sendIfActive,
} from '@troupe/transport/internal';
import { type Actor, createActor } from 'xstate';
import { MalformedPacketError } from '../errors.js';
import { type PacketBodies, PacketRegistry, PacketType } from '../packets.js';
import { internalSeams, type MachineSeam } from '../seams.js';
import { Silence } from '../silence.js';
import { type NodeIdentity, systemIdentity } from '../system/launcher.js';
import type { TaskChildren } from './children.js';
import {
  bindNodeEndpointEffects,
  endpointStateOf,
  type HostWatchState,
  type NodeEndpointEvent,
  type NodeEndpointState,
  nodeEndpointMachine,
} from './endpoint.machine.js';
import { WorkerJob } from './jobs.js';
import { TaskRequests } from './requests.js';
import { TaskResolver } from './resolver.js';

export interface NodeEndpointOptions {
  transport: Transport;
  /**
   * Passed to `transport.listen`: address, handshake options, secret, limits. Admission is always
   * manual here: a connection is admitted when it becomes the host (its NodeConfiguration
   * accepted), and until then it counts against `admission`'s deadline and limits.
   */
  listen?: ListenOptions;
  /** Exit after this long without a host (fresh or idle). Default 15 minutes, as MSBuild. */
  idleTimeoutMs?: number;
  clock?: Clock;
  /** The process and thread it tells its host it runs in. Default: this one (a simulator's nodes get their own). */
  identity?: NodeIdentity;
  /**
   * Tracks the processes its tasks and jobs start, to end them with the request or job (a process
   * node's; nodes inside the host track none: the host's processes are not theirs to end).
   */
  children?: TaskChildren;
  /** How long a cancelled task has to stop its processes itself before they are signalled. Default 1 s. */
  childGraceMs?: number;
  /** The model checker's broken variants only (`@troupe/core/internal`). */
  [internalSeams]?: NodeEndpointSeams;
}

/** Where a test reaches inside one endpoint (see `internalSeams`). */
export interface NodeEndpointSeams {
  /** Replaces the endpoint's machine, e.g. by one that takes a second host. */
  machine?: MachineSeam<typeof nodeEndpointMachine>;
  /** Answers a Cancel of a running request at once, before its task ends (`answer-cancel-early`). */
  answersCancelAtOnce?: boolean;
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
export class NodeEndpoint extends SafeEmitter<NodeEndpointEvents> {
  readonly address: string;
  /** Resolves when the endpoint has exited: listener closed, host link flushed and closed. */
  readonly exited: Promise<void>;
  readonly #listener: Listener;
  readonly #machine: Actor<typeof nodeEndpointMachine>;
  readonly #packets = new PacketRegistry();
  readonly #tasks: TaskResolver;
  readonly #identity: NodeIdentity;
  readonly #children: TaskChildren | undefined;
  readonly #childGraceMs: number;
  readonly #links = new Set<Link>();
  /** The incarnation each link that offered itself as host gave (read when it is accepted). */
  readonly #offered = new Map<string, number>();
  /** What the host asks this node to run: task requests, or (on a worker node) one job. */
  readonly #requests: TaskRequests;
  readonly #job: WorkerJob;
  #host: Link | undefined;
  /** The host's incarnation number for this node's connection to it (its NodeConfiguration). */
  #incarnation = 0;
  /** Since the host last sent anything: what its heartbeat timeout is measured against. */
  readonly #hostSilence: Silence;
  #killed = false;
  #resolveExited!: () => void;

  static async start(options: NodeEndpointOptions): Promise<NodeEndpoint> {
    const listener = await options.transport.listen({
      ...(options.clock && { clock: options.clock }),
      ...options.listen,
      // A stranger that connects and never presents itself as a host is closed in time, and
      // strangers together hold a bounded number of connections and bytes.
      admission: { ...options.listen?.admission, manual: true },
    });
    // `this`, not the class by name: a class that names itself inside its body is bundled as
    // `class _NodeEndpoint` (scripts/bundle.mjs), and would be named that.
    return new this(listener, options);
  }

  private constructor(listener: Listener, options: NodeEndpointOptions) {
    super();
    this.#listener = listener;
    this.address = listener.address;
    this.#identity = options.identity ?? systemIdentity();
    this.#tasks = new TaskResolver(this.#identity);
    this.#children = options.children;
    this.#childGraceMs = options.childGraceMs ?? 1_000;
    const clock = options.clock ?? systemClock;
    this.#hostSilence = new Silence(
      clock,
      () => this.#machine.getSnapshot().context.heartbeat?.intervalMs ?? Number.POSITIVE_INFINITY,
    );
    this.exited = new Promise((resolve) => {
      this.#resolveExited = resolve;
    });
    this.#requests = new TaskRequests({
      tasks: this.#tasks,
      isHost: (link) => link === this.#host,
      children: this.#children,
      childGraceMs: this.#childGraceMs,
      now: () => (options.clock ?? systemClock).now(),
      answersCancelAtOnce: options[internalSeams]?.answersCancelAtOnce,
    });
    this.#job = new WorkerJob({
      tasks: this.#tasks,
      children: this.#children,
      killed: () => this.#killed,
      log: (message) => this.#log(message),
      ended: () => this.#toMachine({ type: 'endpoint.exit' }),
    });
    // A broken variant's seam provides its bug on the machine; the endpoint binds its effects to
    // its own actor (no provide per endpoint: it would rebuild the machine).
    const seam = options[internalSeams]?.machine;
    this.#machine = createActor(seam ? seam(nodeEndpointMachine) : nodeEndpointMachine, {
      inspect: machineInspector(),
      clock: options.clock ?? systemClock,
      input: {
        idleTimeoutMs: options.idleTimeoutMs ?? 15 * 60_000,
        effects: bindNodeEndpointEffects({
          acceptHost: (linkId) => this.#acceptHost(linkId),
          refuseHost: (linkId) => this.#refuseHost(linkId),
          staleModules: () => this.#tasks.modulesChanged(),
          retire: (linkId) => this.#retire(linkId),
          releaseHost: () => this.#releaseHost(),
          resetBuildState: () => this.#requests.reset(),
          exit: () => {
            void this.#shutdown();
          },
          hostSilentFor: () => this.#hostSilence.silentFor(),
          watchHost: () => this.#hostSilence.watchFromNow(),
          hostTicked: () => this.#hostSilence.ticked(),
          hostSilent: (timeoutMs) =>
            this.#log(
              `dropping host incarnation ${this.#incarnation} (${this.#host?.peer ?? 'gone'}): nothing heard from it for ${this.#hostSilence.sinceHeard()} ms (heartbeat timeout ${timeoutMs} ms)`,
            ),
        }),
      },
    });
    // A heartbeat tick makes a new snapshot in the same state: only a change of state is news.
    let last: NodeEndpointState | undefined;
    this.#machine.subscribe({
      next: (snapshot) => {
        const state = endpointStateOf(snapshot.value);
        if (state === last) return;
        last = state;
        this.emitSafely('state', state);
      },
      error: reportUnhandledError,
    });
    listener.on('link', (link) => this.#onLink(link));
    listener.on('rejected', (error, peer) =>
      this.#log(`refused a connection from ${peer}: ${error.message}`),
    );
    this.#machine.start();
    queueMicrotask(() => this.emitSafely('listening', this.address));
  }

  /** Events for a machine that already reached its final state are late news: dropped, not warned about. */
  #toMachine(event: NodeEndpointEvent): void {
    sendIfActive(this.#machine, event);
  }

  get state(): NodeEndpointState {
    return endpointStateOf(this.#machine.getSnapshot().value);
  }

  /** While serving a host: whether it watches the host's heartbeats (`watching`) or not (`trusting`). */
  get hostWatch(): HostWatchState | undefined {
    const value = this.#machine.getSnapshot().value;
    return typeof value === 'string' ? undefined : value.active;
  }

  /** Requests currently running. */
  get running(): number {
    return this.#requests.size;
  }

  /**
   * The exit code this node's process should end with: set when it ran a job (the code says how
   * the job ended, `JOB_EXIT_CODES`); undefined otherwise.
   */
  get exitCode(): number | undefined {
    return this.#job.exitCode;
  }

  /** Whether `kill()` ended it (an in-process stand-in for a killed process). */
  get killed(): boolean {
    return this.#killed;
  }

  /** Exit now: running requests are cancelled, the host link is flushed and closed. */
  exit(): Promise<void> {
    this.#toMachine({ type: 'endpoint.exit' });
    return this.exited;
  }

  /**
   * Ends the node as a kill ends a process: links are cut without flushing and nothing it still
   * runs can reach the host. For in-process nodes that stand in for processes (tests, simulation).
   */
  kill(): Promise<void> {
    if (!this.#killed) {
      this.#killed = true;
      for (const link of this.#links) void link.destroy();
      this.#toMachine({ type: 'endpoint.exit' });
    }
    return this.exited;
  }

  #onLink(link: Link): void {
    this.#links.add(link);
    link.on('packet', (type, body) => this.#onPacket(link, type, body));
    link.on('close', ({ reason, error }) => {
      this.#links.delete(link);
      this.#offered.delete(link.id);
      if (link === this.#host) {
        this.#log(`host link closed (${reason}${error ? `: ${error.message}` : ''})`);
        this.#toMachine({ type: 'host.lost', linkId: link.id });
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
      // A host this node let go (its heartbeat timeout): what it sent before it heard is late news.
      if (link.state !== 'open') return;
      if (packet.type !== 'NodeConfiguration') {
        const error = new MalformedPacketError(
          String(packet.type),
          'a host must send NodeConfiguration first',
        );
        this.#log(`closing the connection from ${link.peer}: ${error.message}`);
        void link.destroy(error);
        return;
      }
      this.#offered.set(link.id, packet.body.incarnation);
      this.#toMachine({
        type: 'host.offered',
        linkId: link.id,
        reuse: packet.body.nodeReuse,
        heartbeat: packet.body.heartbeat,
      });
      return;
    }
    // Anything from the host is news that it is there (its Pings are only the least of it).
    this.#hostSilence.heard();
    switch (packet.type) {
      case 'BuildRequest':
        this.#requests.received(link, packet.body);
        break;
      case 'Cancel':
        this.#requests.cancel(link, packet.body.id, packet.body.reason);
        break;
      case 'BuildUnblocked':
        this.#requests.unblocked(link, packet.body.requestId, packet.body.results);
        break;
      case 'ReacquireGranted':
        this.#requests.granted(link, packet.body.requestId);
        break;
      case 'Restart':
        this.#requests.restart(packet.body.requestId);
        break;
      case 'JobRequest':
        this.#job.run(link, packet.body);
        break;
      case 'JobCancel':
        this.#job.cancel(packet.body);
        break;
      case 'MetadataUpdate':
        this.#job.updateMetadata(packet.body);
        break;
      case 'Ping':
        // Answered here, on the event loop, whatever the tasks do: an async task leaves the loop
        // free, so only a stopped node, or one stuck in a synchronous stretch, stays silent.
        if (link.state === 'open') link.send(PacketType.Pong, { seq: packet.body.seq });
        break;
      case 'NodeBuildComplete':
        this.#toMachine({
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
    this.#incarnation = this.#offered.get(linkId) ?? 0;
    if (this.#host) this.#listener.admit(this.#host);
    this.#host?.send(PacketType.NodeReady, {
      pid: this.#identity.pid,
      threadId: this.#identity.threadId,
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

  #retire(linkId: string): void {
    const link = [...this.#links].find((candidate) => candidate.id === linkId);
    const why = this.#tasks.modulesChanged() ?? 'a task module changed';
    this.#log(`retiring instead of serving ${link?.peer ?? 'a new host'}: ${why}`);
    if (!link) return;
    try {
      link.send(PacketType.NodeShutdown, {
        reason: 'Retired',
        error: { name: 'NodeRetiredError', message: `this node's task module ${why}; start a fresh node` },
      } satisfies PacketBodies['NodeShutdown']);
    } catch {
      // The link closed meanwhile; nothing to tell.
    }
    void link.close();
  }

  #releaseHost(): void {
    this.#requests.release();
    // Whatever the job still does, no host will hear of it: the worker ends as abandoned.
    this.#job.abandon();
    const host = this.#host;
    this.#host = undefined;
    if (host) void host.close();
  }

  async #shutdown(): Promise<void> {
    // Cancelled tasks' processes get their grace and signals before the node is gone, and so do
    // those of a task or job still running (its host went away, and it ignored the cancel).
    await this.#children?.endAll(this.#childGraceMs);
    await this.#listener.close();
    await Promise.all([...this.#links].map((link) => link.close()));
    this.#machine.stop();
    this.emitSafely('exit');
    this.#resolveExited();
  }

  #log(message: string): void {
    this.emitSafely('log', message);
  }
}
