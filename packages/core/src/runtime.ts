import { availableParallelism } from 'node:os';
import { type Clock, reportUnhandledError, systemClock, TroupeError } from '@troupe/transport';
import { EventEmitter } from 'eventemitter3';
import { NodeClosedError, RequestCancelledError, StallError, TaskFailedError } from './errors.js';
import { createIdSource, type IdSource, type RandomSource, systemRandom } from './ids.js';
import type { NodeContext, NodeKind } from './nodes/context.js';
import { InProcessNodeProvider } from './nodes/inproc.js';
import { ProcessNodeProvider, type ProcessNodeProviderOptions } from './nodes/process.js';
import type { NodeProvider } from './nodes/provider.js';
import { ThreadNodeProvider } from './nodes/thread.js';
import { type PacketBodies, type RequestOutcome, serializeError } from './packets.js';
import type { SchedulingPolicy } from './scheduler/policy.js';
import type { RequestState, ScheduledRequest } from './scheduler/request.js';
import { Scheduler, type SchedulerHost, type StallReport } from './scheduler/scheduler.js';
import { type RequestLike, toSpec } from './tasks/context.js';

export interface RuntimeOptions {
  nodes?: {
    /** Default 'inproc'. */
    kind?: Exclude<NodeKind, 'remote'>;
    /** Largest pool; it grows on demand up to here. Default: the machine's available parallelism. */
    max?: number;
    /** Process nodes: leave them idle for the next run, and reuse idle ones. */
    reuse?: boolean;
    /** Options for process nodes. */
    process?: Omit<ProcessNodeProviderOptions, 'reuse' | 'clock' | 'random'>;
    /** Bring your own provider (overrides kind). */
    provider?: NodeProvider;
  };
  policy?: SchedulingPolicy;
  /** See `Scheduler`: a stall event after this long without progress (default 5 s)... */
  stallTimeoutMs?: number;
  /** ...and a `StallError` for every unfinished request this much later (default 10 s). */
  stallErrorMs?: number;
  clock?: Clock;
  random?: RandomSource;
}

export interface RuntimeEvents {
  request: [request: ScheduledRequest, from: RequestState | 'new', to: RequestState];
  stall: [report: StallReport];
  node: [node: NodeContext];
  /** A node died; the requests it held failed with `error`. */
  'node.lost': [node: NodeContext, error: Error];
  log: [entry: { node: string; requestId?: string; level: string; message: string }];
}

/**
 * troupe's front door: requests in, results out, on a pool of nodes that grows on demand.
 *
 *     await using runtime = createRuntime({ nodes: { kind: 'process', max: 8 } });
 *     const out = await runtime.build({ task: compile, input: { project: 'a' } });
 */
export class Runtime extends EventEmitter<RuntimeEvents> {
  readonly scheduler: Scheduler;
  readonly provider: NodeProvider;
  readonly #nodes = new Map<string, NodeContext>();
  readonly #children = new Map<string, ScheduledRequest[]>();
  readonly #clock: Clock;
  readonly #ids: IdSource;
  #closing: Promise<void> | undefined;

  constructor(options: RuntimeOptions = {}) {
    super();
    this.#clock = options.clock ?? systemClock;
    const random = options.random ?? systemRandom;
    this.#ids = createIdSource(random);
    const kind = options.nodes?.kind ?? 'inproc';
    this.provider =
      options.nodes?.provider ??
      (kind === 'process'
        ? new ProcessNodeProvider({
            ...options.nodes?.process,
            reuse: options.nodes?.reuse ?? false,
            clock: this.#clock,
            random,
          })
        : kind === 'thread'
          ? new ThreadNodeProvider({ clock: this.#clock, random })
          : new InProcessNodeProvider({ clock: this.#clock, random }));
    const host: SchedulerHost = {
      start: (request, node) =>
        this.#send(node, 'BuildRequest', {
          id: request.id,
          task: request.spec.task,
          input: request.spec.input,
        }),
      unblock: (request, node) =>
        this.#send(node, 'BuildUnblocked', { requestId: request.id, results: this.#outcomes(request) }),
      grant: (request, node) => this.#send(node, 'ReacquireGranted', { requestId: request.id }),
      cancel: (request, node, reason) => {
        try {
          this.#send(node, 'Cancel', { id: request.id, reason: reason.message });
        } catch {
          // The node is gone; the request is already lost with it.
        }
      },
      grow: (count) => void this.#grow(count),
    };
    this.scheduler = new Scheduler({
      host,
      maxNodes: options.nodes?.max ?? availableParallelism(),
      ...(options.policy && { policy: options.policy }),
      ...(options.stallTimeoutMs !== undefined && { stallTimeoutMs: options.stallTimeoutMs }),
      ...(options.stallErrorMs !== undefined && { stallErrorMs: options.stallErrorMs }),
      clock: this.#clock,
      ids: this.#ids,
    });
    this.scheduler.on('transition', (request, from, to) => {
      if (to === 'completed' || to === 'failed' || to === 'cancelled') this.#children.delete(request.id);
      this.emit('request', request, from, to);
    });
    this.scheduler.on('stall', (report) => this.emit('stall', report));
  }

  /** The nodes in the pool now. */
  get nodes(): readonly NodeContext[] {
    return [...this.#nodes.values()];
  }

  /**
   * Builds one request (or several, resolving to their results in order). Identical requests are
   * built once. An aborted `signal` cancels the request, on its node too.
   */
  async build<T = unknown>(request: RequestLike, options?: { signal?: AbortSignal }): Promise<T>;
  async build<T = unknown>(
    requests: readonly RequestLike[],
    options?: { signal?: AbortSignal },
  ): Promise<T[]>;
  async build(
    requests: RequestLike | readonly RequestLike[],
    options: { signal?: AbortSignal } = {},
  ): Promise<unknown> {
    const signal = options.signal;
    signal?.throwIfAborted();
    if (this.#closing) throw new NodeClosedError('runtime', 'the runtime is shutting down');
    const list = Array.isArray(requests) ? (requests as readonly RequestLike[]) : [requests as RequestLike];
    const scheduled = list.map((request) => this.scheduler.submit(toSpec(request)));
    const onAbort = () => {
      const reason =
        signal?.reason instanceof Error ? signal.reason : new RequestCancelledError('the build was aborted');
      for (const request of scheduled) this.scheduler.cancel(request.id, reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const settled = await Promise.all(scheduled.map((request) => this.scheduler.whenSettled(request)));
      const values = settled.map((request) => {
        if (request.state === 'completed') return request.value;
        throw request.error ?? new TroupeError(`request ${request.id} ${request.state}`);
      });
      return Array.isArray(requests) ? values : values[0];
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Cancels whatever is unfinished, then shuts the nodes down (or leaves them idle with `reuse`). Idempotent. */
  shutdown(options: { reuse?: boolean } = {}): Promise<void> {
    this.#closing ??= (async () => {
      this.scheduler.cancelAll(new RequestCancelledError('the runtime shut down'));
      this.scheduler.stop();
      await this.provider.shutdown(undefined, options);
      this.#nodes.clear();
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }

  async #grow(count: number): Promise<void> {
    let nodes: NodeContext[];
    try {
      nodes = await this.provider.acquire(count);
    } catch (error) {
      this.scheduler.growthFailed(count);
      reportUnhandledError(error);
      return;
    }
    for (const node of nodes) {
      if (this.#closing) {
        void this.provider.shutdown([node]);
        continue;
      }
      this.#adopt(node);
    }
  }

  #adopt(node: NodeContext): void {
    this.#nodes.set(node.id, node);
    const scheduler = this.scheduler;
    const ifRunning = (id: string, action: () => void) => {
      const request = scheduler.request(id);
      if (request && request.node === node.id) action();
    };
    node.handle('BuildResult', (body) =>
      ifRunning(body.id, () => {
        if (scheduler.request(body.id)?.state !== 'executing') return;
        if (body.ok) scheduler.complete(body.id, body.value);
        else {
          const request = scheduler.request(body.id)!;
          const error = new TaskFailedError(
            request.spec.task,
            node.id,
            body.error.message,
            body.error.code,
            body.error.stack,
          );
          if (body.error.chain) Object.assign(error, { chain: body.error.chain });
          scheduler.fail(body.id, error);
        }
      }),
    );
    node.handle('BuildBlocked', (body) =>
      ifRunning(body.requestId, () => {
        const children = scheduler.block(body.requestId, body.requests);
        this.#children.set(body.requestId, children);
      }),
    );
    node.handle('Yield', (body) => ifRunning(body.requestId, () => scheduler.yield(body.requestId)));
    node.handle('Reacquire', (body) => ifRunning(body.requestId, () => scheduler.reacquire(body.requestId)));
    node.on('log', (entry) => this.emit('log', { node: node.id, ...entry }));
    node.on('shutdown', (body, error) => {
      if (body.reason !== 'ConnectionFailed') return;
      this.#nodes.delete(node.id);
      const failure = error ?? new NodeClosedError(node.id, 'connection failed');
      this.emit('node.lost', node, failure);
      scheduler.removeNode(node.id, failure);
    });
    this.emit('node', node);
    scheduler.addNode(node.id);
  }

  #outcomes(request: ScheduledRequest): RequestOutcome[] {
    return (this.#children.get(request.id) ?? []).map((child) =>
      child.state === 'completed'
        ? { id: child.id, ok: true, value: child.value }
        : {
            id: child.id,
            ok: false,
            error: serializeError(child.error ?? new Error(`request ${child.state}`)),
          },
    );
  }

  #send<K extends 'BuildRequest' | 'BuildUnblocked' | 'ReacquireGranted' | 'Cancel'>(
    nodeId: string,
    kind: K,
    body: PacketBodies[K],
  ): void {
    const node = this.#nodes.get(nodeId);
    if (!node) throw new NodeClosedError(nodeId, 'not in the pool');
    node.send(kind, body);
  }
}

export function createRuntime(options: RuntimeOptions = {}): Runtime {
  return new Runtime(options);
}

export { StallError };
