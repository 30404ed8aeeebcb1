import type { Clock, TimerId } from '@troupe/transport';
import { NodeAbandonedError, NodeClosedError } from '../errors.js';
import type { NodeContext } from '../nodes/context.js';
import type { HostPacket } from '../nodes/host.js';
import type { PingTimes } from '../nodes/liveness.js';
import {
  type PacketBodies,
  type RequestOutcome,
  serializeError,
  type TraceCarrier,
  taskFailure,
  unflattenSpecs,
} from '../packets.js';
import type { RequestSpec, ScheduledRequest } from '../scheduler/request.js';
import { Scheduler, type SchedulerHost, type SchedulerOptions } from '../scheduler/scheduler.js';
import { type Place, placeAll } from './place.js';

export interface BuildHostOptions {
  /** The scheduler's options; the build host is its host. */
  scheduler: Omit<SchedulerOptions, 'host'>;
  /** Which pool a request runs in (the router's decision in multi-threaded mode). */
  place: Place;
  /** More nodes of `pool` would help: the runtime asks its providers, and `adopt`s what comes. */
  grow(count: number, pool: string): void;
  /** Ping times each adopted node gets (`nodes.pingIntervalMs`, `nodes.pingTimeoutMs`). */
  ping: Partial<PingTimes>;
  /** How long a node has to end a run cancelled for its timeout before it is killed (`nodes.cancelGraceMs`). */
  cancelGraceMs: number;
  /** The runtime's clock, for that grace. */
  clock: Clock;
  /** The runtime's `nodeLost` seam: given `forget`, which drops the node and fails what it held. */
  nodeLost: ((node: NodeContext, forget: () => void) => void) | undefined;
  /**
   * The runtime's `appliesLostIncarnations` seam (the model checker's `apply-lost-incarnation`):
   * what a lost incarnation still sends is handled as if it were live. Core fences it.
   */
  appliesLostIncarnations: boolean;
  /** The runtime's `appliesLateNews` seam (the model checker's `apply-late-news`). Core ignores late news. */
  appliesLateNews?: boolean | undefined;
  /** What the runtime is told, as its own events. */
  reports: {
    node(node: NodeContext): void;
    /** `pool` is given for a node that was lost after it joined (not one refused as it came). */
    nodeLost(node: NodeContext, error: Error, pool?: string): void;
    log(entry: PacketBodies['Log'] & { node: string }): void;
    /** A packet from an incarnation of `node` declared lost was dropped, not applied. */
    fenced(node: NodeContext, packet: FencedPacket): void;
  };
}

/** What a lost incarnation sent, and the host dropped: the packet's kind and its request. */
export interface FencedPacket {
  type: HostPacket['type'];
  requestId: string;
}

/**
 * The host side of the packet protocol for a runtime's pool of nodes, in one place. It is the
 * scheduler's host (its decisions go out as BuildRequest, BuildUnblocked, ReacquireGranted and
 * Cancel) and the host of every node it adopts (their BuildResult, BuildBlocked, Yield and
 * Reacquire come back as scheduler calls). The node contexts keep their links; this keeps the
 * conversation.
 */
export class BuildHost implements SchedulerHost {
  readonly scheduler: Scheduler;
  /** The pool's nodes by id: the live incarnation of each. */
  readonly #nodes = new Map<string, NodeContext>();
  /** Incarnations declared lost (their connection failed, or they were silent too long). */
  readonly #lost = new WeakSet<NodeContext>();
  readonly #options: BuildHostOptions;
  /** What goes with a request to its node as its trace context (OpenTelemetry), when something does. */
  traceContext: ((request: ScheduledRequest) => TraceCarrier | undefined) | undefined;
  /** The request whose `ctx.build` is being submitted, while it is: its new requests' asker. */
  asking: string | undefined;

  /** Runs cancelled for their timeout whose node has not answered yet: the grace before it is killed. */
  readonly #graces = new Map<string, { node: string; timer: TimerId }>();

  constructor(options: BuildHostOptions) {
    this.#options = options;
    this.scheduler = new Scheduler({ ...options.scheduler, host: this });
    this.scheduler.on('timedOut', (request, node) => this.#grace(request, node));
  }

  /**
   * `request` was cancelled on `node` for its timeout: the node has `cancelGraceMs` to end the
   * run (its task sees its signal abort). If it has not, the host gives up on the node: it is
   * killed, and what else it held fails or runs again, as with any lost node.
   */
  #grace(request: ScheduledRequest, nodeId: string): void {
    const graceMs = this.#options.cancelGraceMs;
    const timer = this.#options.clock.setTimeout(() => {
      this.#graces.delete(request.id);
      this.#nodes
        .get(nodeId)
        ?.abandon(new NodeAbandonedError(nodeId, this.#nodes.get(nodeId)?.pid, request.id, graceMs));
    }, graceMs);
    this.#graces.set(request.id, { node: nodeId, timer });
  }

  /** The node answered for `requestId` (or is gone): no grace is running for it any more. */
  #graceOver(requestId: string): void {
    const grace = this.#graces.get(requestId);
    if (!grace) return;
    this.#graces.delete(requestId);
    this.#options.clock.clearTimeout(grace.timer);
  }

  /** The nodes in the pool now. */
  get nodes(): readonly NodeContext[] {
    return [...this.#nodes.values()];
  }

  start(request: ScheduledRequest, node: string): void {
    const body: PacketBodies['BuildRequest'] = {
      id: request.id,
      task: request.spec.task,
      input: request.spec.input,
    };
    // Its declared dependencies are done (it was pending until they were): their values go with it.
    if (request.declared) body.deps = request.declared.map((dependency) => dependency.value);
    const traceContext = this.traceContext?.(request);
    if (traceContext) body.traceContext = traceContext;
    this.#send(node, 'BuildRequest', body);
  }

  unblock(request: ScheduledRequest, node: string): void {
    this.#send(node, 'BuildUnblocked', { requestId: request.id, results: outcomes(request) });
  }

  grant(request: ScheduledRequest, node: string): void {
    this.#send(node, 'ReacquireGranted', { requestId: request.id });
  }

  restart(request: ScheduledRequest, node: string): void {
    // A node that is gone took the first run with it.
    if (this.#nodes.has(node)) this.#send(node, 'Restart', { requestId: request.id });
  }

  cancel(request: ScheduledRequest, node: string, reason: Error): void {
    try {
      this.#send(node, 'Cancel', { id: request.id, reason: reason.message });
    } catch {
      // The node is gone; the request is already lost with it.
    }
  }

  grow(count: number, pool: string): void {
    this.#options.grow(count, pool);
  }

  /**
   * Takes a node into `pool`: the scheduler may give it work, and its packets come here. Throws,
   * having changed nothing, when the node is not fresh (it has a host already, or a direct
   * request in flight): the caller gives it back.
   */
  adopt(node: NodeContext, pool: string): void {
    // Its connection failed after it was ready and before it got here (the model checker's restart
    // scenario found it): its shutdown event has been and gone, so nothing would ever take it out
    // of the pool, and work given to it would wait forever. It counts as a growth that failed.
    if (node.state === 'failed' || node.state === 'closed') {
      const error =
        node.failure ?? new NodeClosedError(node.id, 'its connection ended before it joined the pool');
      this.#options.reports.nodeLost(node, error);
      this.scheduler.growthFailed(1, pool, error);
      return;
    }
    // First: it throws for a node that is not fresh, before this host has counted it.
    node.attachHost({
      receive: (packet) => this.#receive(node, packet),
      // The scheduler answers its own callers. A runtime closes its nodes only after ending every
      // request (shutdown cancels what is unfinished first), and a node that fails under a request
      // reaches the scheduler through its `shutdown` event, below, however its link closed.
      awaitsAnswers: () => false,
    });
    this.#nodes.set(node.id, node);
    // A node with heartbeats keeps the times it was told when it connected.
    if (!node.heartbeat) node.setPingTimes(this.#options.ping);
    node.on('log', (entry) => this.#options.reports.log({ node: node.id, ...entry }));
    node.on('shutdown', (body, error) => {
      if (body.reason !== 'ConnectionFailed') return;
      const forget = () => {
        this.#lost.add(node);
        // A later incarnation under the same id may have joined since: it stays.
        if (this.#nodes.get(node.id) !== node) return;
        this.#nodes.delete(node.id);
        for (const [id, grace] of this.#graces) if (grace.node === node.id) this.#graceOver(id);
        const failure = error ?? new NodeClosedError(node.id, 'connection failed');
        this.#options.reports.nodeLost(node, failure, pool);
        this.scheduler.removeNode(node.id, failure);
      };
      if (this.#options.nodeLost) this.#options.nodeLost(node, forget);
      else forget();
    });
    this.#options.reports.node(node);
    this.scheduler.addNode(node.id, pool);
  }

  /** Lets go of every node (the runtime has shut its providers down). */
  clear(): void {
    for (const id of [...this.#graces.keys()]) this.#graceOver(id);
    this.#nodes.clear();
  }

  #receive(node: NodeContext, packet: HostPacket): void {
    if (this.#fenced(node, packet)) return;
    const scheduler = this.scheduler;
    switch (packet.type) {
      case 'BuildResult': {
        const body = packet.body;
        this.#left(node, body.id, (request) => {
          if (body.ok) scheduler.complete(request.id, body.value);
          else scheduler.fail(request.id, taskFailure(request.spec.task, node.id, body.error));
        });
        return;
      }
      case 'BuildBlocked': {
        const { requestId, requests, asked, restartable } = packet.body;
        this.#left(node, requestId, () => {
          const block = (specs: RequestSpec[]) => {
            // Routing may have waited on a module import; the request may have been cancelled meanwhile.
            if (scheduler.request(requestId)?.state !== 'executing') return;
            this.asking = requestId;
            try {
              scheduler.block(requestId, specs, restartable === true);
            } finally {
              this.asking = undefined;
            }
          };
          const placed = placeAll(unflattenSpecs(requests, asked), this.#options.place);
          if (placed instanceof Promise) void placed.then(block);
          else block(placed);
        });
        return;
      }
      case 'Yield':
        this.#left(node, packet.body.requestId, (request) => scheduler.yield(request.id));
        return;
      case 'Reacquire': {
        const request = scheduler.request(packet.body.requestId);
        if (request?.node === node.id && request.state === 'yielded') scheduler.reacquire(request.id);
        return;
      }
      case 'JobError':
        // A node of a pool runs no jobs: nothing to say.
        return;
    }
  }

  /**
   * The fence: a packet from an incarnation this host has declared lost, or one that a later
   * incarnation under the same id has replaced, is dropped and reported, never applied. Its
   * request may be running again elsewhere, or on the same node id's next connection, where the
   * request-by-node check below (`#left`) would take it for the live run's. Reachable because a
   * lost node's link is closed, not cut (`NodeContext`): what was on its way still arrives.
   */
  #fenced(node: NodeContext, packet: HostPacket): boolean {
    if (this.#options.appliesLostIncarnations) return false;
    const live = this.#nodes.get(node.id);
    if (!this.#lost.has(node) && (live === node || live === undefined)) return false;
    if (packet.type === 'JobError') return true;
    const requestId = packet.type === 'BuildResult' ? packet.body.id : packet.body.requestId;
    this.#options.reports.fenced(node, { type: packet.type, requestId });
    return true;
  }

  /**
   * A result, block or yield is the request leaving its node. For a request this host has
   * already ended (cancelled, or failed by a stall, while the node still ran it) it is the news
   * that the node is free now; anything else about such a request is late news.
   */
  #left(node: NodeContext, id: string, action: (request: ScheduledRequest) => void): void {
    const request = this.scheduler.request(id);
    if (!request || request.node !== node.id) return;
    if (request.state === 'executing') action(request);
    else {
      if (this.#options.appliesLateNews) action(request);
      this.#graceOver(id);
      this.scheduler.nodeLeft(node.id, id);
    }
  }

  #send<K extends 'BuildRequest' | 'BuildUnblocked' | 'ReacquireGranted' | 'Cancel' | 'Restart'>(
    nodeId: string,
    kind: K,
    body: PacketBodies[K],
  ): void {
    const node = this.#nodes.get(nodeId);
    if (!node) throw new NodeClosedError(nodeId, 'not in the pool');
    node.send(kind, body);
  }
}

/** What a blocked request waited on, in the order it asked: the body of its BuildUnblocked. */
function outcomes(request: ScheduledRequest): RequestOutcome[] {
  return (request.awaited ?? []).map((child) =>
    child.state === 'completed'
      ? { id: child.id, ok: true, value: child.value }
      : {
          id: child.id,
          ok: false,
          error: serializeError(child.error ?? new Error(`request ${child.state}`)),
        },
  );
}
