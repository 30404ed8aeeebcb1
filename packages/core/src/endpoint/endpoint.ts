import {
  type Clock,
  type Link,
  type Listener,
  type ListenOptions,
  systemClock,
  type Transport,
  ValueNotCloneableError,
} from '@troupe/transport';
import {
  findRefused,
  machineInspector,
  reportUnhandledError,
  SafeEmitter,
  sendIfActive,
} from '@troupe/transport/internal';
import { type Actor, createActor } from 'xstate';
import { MalformedPacketError, RequestCancelledError } from '../errors.js';
import { JobRun } from '../jobs/define.js';
import { JOB_EXIT_CODES } from '../jobs/result.js';
import {
  type PacketBodies,
  PacketRegistry,
  PacketType,
  type RequestOutcome,
  serializeError,
} from '../packets.js';
import { internalSeams, type MachineSeam } from '../seams.js';
import { type NodeIdentity, systemIdentity } from '../system/launcher.js';
import type { TaskChildren } from './children.js';
import { type NodeEndpointEvent, type NodeEndpointState, nodeEndpointMachine } from './endpoint.machine.js';
import { type TaskFunction, TaskResolver } from './resolver.js';
import { createTaskContext, type LazySignal, type TaskContextPort } from './task-context.js';

interface Pending<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

/**
 * A request this node runs: how to abort it and, while it waits on the host, how to wake it.
 * Its AbortController is made only if the task asks for its signal (or it is cancelled first).
 */
class RunningRequest implements LazySignal {
  #controller: AbortController | undefined;
  /** Why it was aborted, set whether or not the task has asked for its signal. */
  #reason: Error | undefined;
  unblock?: Pending<RequestOutcome[]>;
  grant?: Pending<void>;

  signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#reason) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  reason(): Error | undefined {
    return this.#reason;
  }

  abort(error: Error): void {
    this.#reason ??= error;
    this.#controller?.abort(error);
  }
}

function failure(id: string, error: unknown): PacketBodies['BuildResult'] {
  return { id, ok: false, error: serializeError(error) };
}

/**
 * Why `value` could not be sent: the first thing in it that cannot cross, with its path from
 * `root` (`result.handlers[2].onDone is a function`), or else the encoder's own error.
 */
function unsendable(value: unknown, root: string, error: unknown): unknown {
  const found = findRefused(value, root);
  return found ? new ValueNotCloneableError(found.path, found.what, { cause: error }) : error;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

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
  readonly #running = new Map<string, RunningRequest>();
  #host: Link | undefined;
  /**
   * The request active here (started, unblocked or granted, and not yet finished, blocked or
   * yielded), and the requests staged behind it, in order: one runs at a time, and the first
   * staged one starts the moment the active one leaves (the host's scheduler does the same).
   */
  #active: string | undefined;
  #staged: Array<PacketBodies['BuildRequest']> = [];
  /** The task port of the current host link (`#portOf`). */
  #port: { link: Link; port: TaskContextPort } | undefined;
  /** Re-entrancy guard of `#pump` (not lifecycle: the machine owns that). */
  #pumping = false;
  #job: JobRun | undefined;
  #exitCode: number | undefined;
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
    return new NodeEndpoint(listener, options);
  }

  private constructor(listener: Listener, options: NodeEndpointOptions) {
    super();
    this.#listener = listener;
    this.address = listener.address;
    this.#identity = options.identity ?? systemIdentity();
    this.#tasks = new TaskResolver(this.#identity);
    this.#children = options.children;
    this.#childGraceMs = options.childGraceMs ?? 1_000;
    this.exited = new Promise((resolve) => {
      this.#resolveExited = resolve;
    });
    const seam = options[internalSeams]?.machine;
    this.#machine = createActor(seam ? seam(nodeEndpointMachine) : nodeEndpointMachine, {
      inspect: machineInspector(),
      clock: options.clock ?? systemClock,
      input: {
        idleTimeoutMs: options.idleTimeoutMs ?? 15 * 60_000,
        owner: {
          acceptHost: (linkId) => this.#acceptHost(linkId),
          refuseHost: (linkId) => this.#refuseHost(linkId),
          staleModules: () => this.#tasks.modulesChanged(),
          retire: (linkId) => this.#retire(linkId),
          releaseHost: () => this.#releaseHost(),
          resetBuildState: () => {
            this.#running.clear();
            this.#staged = [];
            this.#active = undefined;
          },
          exit: () => {
            void this.#shutdown();
          },
        },
      },
    });
    this.#machine.subscribe({
      next: (snapshot) => this.emitSafely('state', snapshot.value as NodeEndpointState),
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
    return this.#machine.getSnapshot().value as NodeEndpointState;
  }

  /** Requests currently running. */
  get running(): number {
    return this.#running.size;
  }

  /**
   * The exit code this node's process should end with: set when it ran a job (the code says how
   * the job ended, `JOB_EXIT_CODES`); undefined otherwise.
   */
  get exitCode(): number | undefined {
    return this.#exitCode;
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
      if (packet.type !== 'NodeConfiguration') {
        const error = new MalformedPacketError(
          String(packet.type),
          'a host must send NodeConfiguration first',
        );
        this.#log(`closing the connection from ${link.peer}: ${error.message}`);
        void link.destroy(error);
        return;
      }
      this.#toMachine({ type: 'host.offered', linkId: link.id, reuse: packet.body.nodeReuse });
      return;
    }
    switch (packet.type) {
      case 'BuildRequest':
        if (this.#active === undefined) this.#start(link, packet.body);
        else this.#staged.push(packet.body);
        break;
      case 'Cancel': {
        const staged = this.#staged.findIndex((request) => request.id === packet.body.id);
        if (staged >= 0) {
          // Never started: it ends here, with the answer every request gets.
          this.#staged.splice(staged, 1);
          const error = {
            message: packet.body.reason ?? 'cancelled by the host',
            name: 'RequestCancelledError',
          };
          if (link.state === 'open')
            link.send(PacketType.BuildResult, { id: packet.body.id, ok: false, error });
        } else this.#abort(packet.body.id, packet.body.reason ?? 'cancelled by the host');
        break;
      }
      case 'BuildUnblocked': {
        this.#active = packet.body.requestId;
        const running = this.#running.get(packet.body.requestId);
        const pending = running?.unblock;
        if (running) running.unblock = undefined;
        pending?.resolve(packet.body.results);
        break;
      }
      case 'ReacquireGranted': {
        this.#active = packet.body.requestId;
        const running = this.#running.get(packet.body.requestId);
        const pending = running?.grant;
        if (running) running.grant = undefined;
        pending?.resolve();
        break;
      }
      case 'JobRequest':
        this.#runJob(link, packet.body);
        break;
      case 'JobCancel':
        if (this.#job?.jobId === packet.body.jobId) this.#job.cancel(packet.body.kind, packet.body.reason);
        break;
      case 'MetadataUpdate':
        if (this.#job && (packet.body.requestId ?? this.#job.jobId) === this.#job.jobId)
          this.#job.updateMetadata(packet.body.metadata);
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

  #abort(id: string, reason: string): void {
    const running = this.#running.get(id);
    if (!running) return;
    const error = new RequestCancelledError(reason);
    running.abort(error);
    void this.#children?.end(id, this.#childGraceMs);
    // A task parked in ctx.build or ctx.reacquire wakes up to its cancellation.
    running.unblock?.reject(error);
    running.grant?.reject(error);
    running.unblock = undefined;
    running.grant = undefined;
  }

  #releaseHost(): void {
    this.#staged = [];
    this.#active = undefined;
    for (const id of [...this.#running.keys()]) this.#abort(id, 'the host released the node');
    if (this.#job) {
      // Whatever the job still does, no host will hear of it: the worker ends as abandoned.
      this.#exitCode ??= JOB_EXIT_CODES.Abandoned;
      this.#job.cancel('RuntimeShutdown', 'the host went away');
    }
    const host = this.#host;
    this.#host = undefined;
    if (host) void host.close();
  }

  #start(link: Link, request: PacketBodies['BuildRequest']): void {
    this.#active = request.id;
    this.#run(link, request);
    this.#pump(link);
  }

  /** `id` finished, blocked or yielded: if it was the active request, the next staged one starts. */
  #left(link: Link, id: string): void {
    if (this.#active !== id) return;
    this.#active = undefined;
    this.#pump(link);
  }

  /**
   * Starts staged requests while the node is free. A task that returns at once finishes inside
   * `#run`, so this is a loop rather than a recursion: a long run of quick tasks staged here costs
   * no stack depth. Reentrant calls (from a task that finished inside the loop) leave it to the loop.
   */
  #pump(link: Link): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#active === undefined && link === this.#host) {
        const next = this.#staged.shift();
        if (!next) break;
        this.#active = next.id;
        this.#run(link, next);
      }
    } finally {
      this.#pumping = false;
    }
  }

  /**
   * Runs one request. A task already known here whose code returns a value (not a promise) is
   * answered before this returns: no microtask hops for the many small tasks prefetch is for.
   */
  #run(link: Link, request: PacketBodies['BuildRequest']): void {
    const running = new RunningRequest();
    this.#running.set(request.id, running);
    const task = this.#tasks.cached(request.task);
    if (task) {
      this.#invoke(link, request, running, task);
      return;
    }
    this.#tasks.resolve(request.task).then(
      (found) => this.#invoke(link, request, running, found),
      (error: unknown) => this.#finish(link, request.id, running, failure(request.id, error)),
    );
  }

  #invoke(
    link: Link,
    request: PacketBodies['BuildRequest'],
    running: RunningRequest,
    task: TaskFunction,
  ): void {
    const id = request.id;
    let value: unknown;
    try {
      const ctx = createTaskContext(id, running, this.#portOf(link));
      value = this.#children
        ? this.#children.run(id, () => task(request.input, ctx))
        : task(request.input, ctx);
    } catch (error) {
      this.#finish(link, id, running, failure(id, error));
      return;
    }
    if (isThenable(value)) {
      Promise.resolve(value).then(
        (settled) => this.#finish(link, id, running, { id, ok: true, value: settled }),
        (error: unknown) => this.#finish(link, id, running, failure(id, error)),
      );
    } else this.#finish(link, id, running, { id, ok: true, value });
  }

  #finish(link: Link, id: string, running: RunningRequest, result: PacketBodies['BuildResult']): void {
    if (this.#running.get(id) !== running) return;
    this.#running.delete(id);
    // A cancelled task's processes are being ended; a finished one's are its own affair.
    if (!running.reason()) this.#children?.forget(id);
    if (link.state === 'open') {
      try {
        link.send(PacketType.BuildResult, result);
      } catch (error) {
        // A result that cannot be encoded is itself a failure the host must hear about.
        link.send(
          PacketType.BuildResult,
          failure(id, result.ok ? unsendable(result.value, 'result', error) : error),
        );
      }
    }
    this.#left(link, id);
  }

  /**
   * How tasks reach the host through `link`: what `ctx.build`, `ctx.yield`... send. One port per
   * host link, shared by its requests (each call names its request).
   */
  #portOf(link: Link): TaskContextPort {
    if (this.#port?.link === link) return this.#port.port;
    const send = <K extends keyof PacketBodies>(kind: K, body: PacketBodies[K]) => {
      if (link.state !== 'open') throw new Error('the host link is closed');
      link.send(PacketType[kind], body);
    };
    const port: TaskContextPort = {
      block: (requestId, requests) =>
        new Promise((resolve, reject) => {
          const running = this.#running.get(requestId);
          if (running) running.unblock = { resolve, reject };
          try {
            send('BuildBlocked', { requestId, requests });
          } catch (error) {
            // Nothing was sent: the request stays active here and its ctx.build throws.
            if (running) running.unblock = undefined;
            reject(unsendable(requests, 'requests', error));
            return;
          }
          this.#left(link, requestId);
        }),
      yield: (requestId) => {
        send('Yield', { requestId });
        this.#left(link, requestId);
      },
      reacquire: (requestId) =>
        new Promise((resolve, reject) => {
          const running = this.#running.get(requestId);
          if (running) running.grant = { resolve, reject };
          send('Reacquire', { requestId });
        }),
      log: (requestId, message, level) => {
        if (link.state === 'open') link.send(PacketType.Log, { requestId, level, message });
      },
    };
    this.#port = { link, port };
    return port;
  }

  /**
   * A worker node runs one job, then exits with the code for how it ended; its log lines go to
   * the host as they are written. A second job on the same worker is refused: workers are never
   * reused across jobs.
   */
  #runJob(link: Link, request: PacketBodies['JobRequest']): void {
    if (this.#job) {
      this.#log(`refused job ${request.jobId}: this worker already ran job ${this.#job.jobId}`);
      return;
    }
    const job = new JobRun(request.jobId, request.metadata, {
      log: (message, level) => {
        if (link.state === 'open' && !this.#killed)
          link.send(PacketType.Log, { requestId: request.jobId, level, message });
      },
    });
    this.#job = job;
    this.#log(`running job ${request.jobId} (${request.job})`);
    void (async () => {
      let code: number;
      let failure: unknown;
      try {
        const fn = await this.#tasks.resolveJob(request.job);
        const run = () => job.run(fn, request.message);
        code = await (this.#children ? this.#children.run(request.jobId, run) : run());
        failure = job.failure;
      } catch (error) {
        job.port.log(`could not load job ${request.job}: ${(error as Error).message}`, 'error');
        failure = error;
        code = await job.run(() => 'Failed', undefined);
      }
      // The exit code says Failed; this says why, for the job's completion.
      if (failure !== undefined && code === JOB_EXIT_CODES.Failed && link.state === 'open' && !this.#killed) {
        link.send(PacketType.JobError, {
          jobId: request.jobId,
          error: serializeError(failure),
        } satisfies PacketBodies['JobError']);
      }
      this.#exitCode ??= code;
      this.#log(`job ${request.jobId} ended (exit code ${code})`);
      // Whatever the job left running goes with it (agent#1757): it had its chance to stop it.
      await this.#children?.end(request.jobId, 0);
      this.#toMachine({ type: 'endpoint.exit' });
    })();
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
