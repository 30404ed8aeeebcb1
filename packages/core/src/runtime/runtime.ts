// Over 400 lines on purpose: the runtime is where the parts meet (providers and pools, the build
// host and its scheduler, the router, the timeline, the summary, the live view, supervision), and
// this file is only that wiring and the option rules it is built from; each part is a module of
// its own (build-host.ts, router.ts, trace.ts, supervision.ts, ../dashboard).
import { type Clock, systemClock, TroupeError } from '@troupe/transport';
import { reportUnhandledError } from '@troupe/transport/internal';
import { EventEmitter } from 'eventemitter3';
import { DashboardFeed } from '../dashboard/feed.js';
import { runtimeCharts } from '../dashboard/machines.js';
import {
  checkDashboardOptions,
  type Dashboard,
  type DashboardOptions,
  Dashboards,
} from '../dashboard/serve.js';
import { InvalidOptionError, NodeClosedError, RequestCancelledError, StallError } from '../errors.js';
import { createIdSource, type IdSource, type RandomSource, systemRandom } from '../ids.js';
import type { NodeContext } from '../nodes/context.js';
import { HostedNodeProvider } from '../nodes/hosted.js';
import { InProcessNodeProvider } from '../nodes/inproc.js';
import { DEFAULT_HEARTBEAT, type PingTimes } from '../nodes/liveness.js';
import { ProcessNodeProvider, type ProcessNodeProviderOptions, processShape } from '../nodes/process.js';
import type { AcquireOptions, NodeProvider } from '../nodes/provider.js';
import { RemoteNodeProvider } from '../nodes/remote.js';
import { MixedNodeProvider } from '../nodes/remote-mixed.js';
import { checkRemote, remoteShape } from '../nodes/remote-options.js';
import { ThreadNodeProvider } from '../nodes/thread.js';
import {
  boolean,
  checkShape,
  clock,
  duration,
  integer,
  invalid,
  join,
  oneOf,
  random,
  type Shape,
  shape,
  withMethods,
} from '../options.js';
import { hasTracerProvider, mayHaveTracerProvider, openTelemetry } from '../otel/api.js';
import type { RequestSpecBody } from '../packets.js';
import {
  DEFAULT_POOL,
  type RequestSpec,
  type RequestState,
  type ScheduledRequest,
} from '../scheduler/request.js';
import type { Scheduler } from '../scheduler/scheduler.js';
import { internalSeams } from '../seams.js';
import { systemParallelism } from '../system/launcher.js';
import { summaryOption, type TraceTarget, traceOption, traceTarget } from '../system/trace-file.js';
import { type RequestLike, toSpec } from '../tasks/request.js';
import { BuildHost } from './build-host.js';
import type { RuntimeEvents, RuntimeOptions } from './options.js';
import { RuntimeSpans } from './otel-spans.js';
import { placeAll } from './place.js';
import { TaskRouter } from './router.js';
import { DEFAULT_RESTART_BUDGET, Supervision } from './supervision.js';
import { RuntimeTrace } from './trace.js';

export type { RuntimeEvents, RuntimeOptions, RuntimeSeams } from './options.js';

/**
 * troupe's front door: requests in, results out, on a pool of nodes that grows on demand.
 *
 *     await using runtime = createRuntime({ nodes: { kind: 'process', max: 8 } });
 *     const out = await runtime.build({ task: compile, input: { project: 'a' } });
 */
export class Runtime extends EventEmitter<RuntimeEvents> {
  readonly scheduler: Scheduler;
  /** The providers nodes come from, by pool: 'default', or 'thread' and 'task-host'. */
  readonly providers: ReadonlyMap<string, NodeProvider>;
  /** Multi-threaded mode's router; undefined otherwise. */
  readonly router: TaskRouter | undefined;
  /** The host side of the packet protocol: the scheduler's host, and every pool node's. */
  readonly #builds: BuildHost;
  readonly #clock: Clock;
  readonly #supervision: Supervision;
  readonly #ids: IdSource;
  #closing: Promise<void> | undefined;
  /** Node launches in flight: shutdown waits for them, so no node outlives the runtime. */
  readonly #growth = new Set<Promise<void>>();
  /** Where the timeline goes (`trace`, TROUPE_TRACE); undefined when nothing records. */
  readonly #trace: TraceTarget | undefined;
  /** Who hears of each node context a provider creates: the timeline and any dashboards. */
  readonly #created = new Set<NonNullable<AcquireOptions['created']>>();
  readonly #acquire: AcquireOptions = {
    created: (node, how) => {
      for (const created of this.#created) created(node, how);
    },
  };
  readonly #dashboards = new Dashboards('the runtime');

  constructor(options: RuntimeOptions = {}) {
    super();
    checkShape(options, runtimeShape, '');
    this.#clock = options.clock ?? systemClock;
    // For the nodes whose provider gives them heartbeats (remote ones); told to each as it connects.
    this.#acquire.heartbeat = { ...DEFAULT_HEARTBEAT, ...options.nodes?.heartbeat };
    this.#supervision = new Supervision(
      { ...DEFAULT_RESTART_BUDGET, ...options.nodes?.restarts },
      this.#clock,
    );
    const random = options.random ?? systemRandom;
    this.#ids = createIdSource(random);
    const kind = options.nodes?.kind ?? 'inproc';
    const processOptions = { ...options.nodes?.process, clock: this.#clock, random };
    const providers = new Map<string, NodeProvider>();
    if (options.nodes?.provider) providers.set(DEFAULT_POOL, options.nodes.provider);
    else if (kind === 'multi-threaded') {
      providers.set('thread', new ThreadNodeProvider({ clock: this.#clock, random }));
      providers.set('task-host', new ProcessNodeProvider({ ...processOptions, taskHost: true }));
    } else if (kind === 'process') {
      providers.set(
        DEFAULT_POOL,
        new ProcessNodeProvider({ ...processOptions, reuse: options.nodes?.reuse ?? false }),
      );
    } else if (kind === 'remote') {
      providers.set(DEFAULT_POOL, remoteProvider(options.nodes ?? {}, processOptions, this.#clock, random));
    } else if (kind === 'thread') {
      const threads = new ThreadNodeProvider({ clock: this.#clock, random });
      // Its first worker starts now, while the rest of the runtime and its first build are made.
      threads.prestart();
      providers.set(DEFAULT_POOL, threads);
    } else {
      providers.set(DEFAULT_POOL, new InProcessNodeProvider({ clock: this.#clock, random }));
    }
    this.providers = providers;
    this.router = kind === 'multi-threaded' && !options.nodes?.provider ? new TaskRouter() : undefined;
    const defaultPool = providers.get(DEFAULT_POOL);
    const max =
      options.nodes?.max ??
      (defaultPool instanceof MixedNodeProvider
        ? (options.nodes?.local ?? 0) + defaultPool.remote.capacity
        : systemParallelism());
    this.#builds = new BuildHost({
      scheduler: {
        maxNodes: this.router ? { thread: max, 'task-host': options.nodes?.taskHosts ?? 1 } : max,
        prefetch: options.nodes?.prefetch ?? (kind === 'inproc' ? 0 : 'auto'),
        ...(options.policy && { policy: options.policy }),
        ...(options.stallTimeoutMs !== undefined && { stallTimeoutMs: options.stallTimeoutMs }),
        ...(options.stallErrorMs !== undefined && { stallErrorMs: options.stallErrorMs }),
        clock: this.#clock,
        ids: this.#ids,
        ...(options[internalSeams]?.scheduler && { [internalSeams]: options[internalSeams].scheduler }),
      },
      place: this.#place,
      grow: (count, pool) => {
        // #grow counts every node it does not adopt as a failed growth; this only keeps an
        // unforeseen throw from becoming an unhandled rejection (and shutdown's wait from failing).
        const growing = this.#grow(count, pool).catch(reportUnhandledError);
        this.#growth.add(growing);
        void growing.finally(() => this.#growth.delete(growing));
      },
      ping: pingTimes(options.nodes),
      cancelGraceMs: options.nodes?.cancelGraceMs ?? 5_000,
      clock: this.#clock,
      nodeLost: options[internalSeams]?.nodeLost,
      appliesLostIncarnations: options[internalSeams]?.appliesLostIncarnations ?? false,
      appliesLateNews: options[internalSeams]?.appliesLateNews,
      reports: {
        node: (node) => this.emit('node', node),
        nodeLost: (node, error, pool) => {
          if (pool !== undefined) this.#supervision.lost(pool, error);
          this.emit('node.lost', node, error);
        },
        log: (entry) => this.emit('log', entry),
        fenced: (node, packet) => {
          this.emit('fenced', node, packet);
          this.emit('log', {
            node: node.id,
            requestId: packet.requestId,
            level: 'warn',
            message: `dropped ${packet.type} for request ${packet.requestId} from incarnation ${node.incarnation} of node ${node.id}, declared lost: its request runs again or failed`,
          });
        },
      },
    });
    this.scheduler = this.#builds.scheduler;
    this.scheduler.on('transition', (request, from, to) => this.emit('request', request, from, to));
    this.scheduler.on('stall', (report) => this.emit('stall', report));
    this.#trace = traceTarget(options.trace, options.summary);
    if (this.#trace) this.#record(new RuntimeTrace(this.#trace.recorder, this.#clock));
    // The API is loaded only when a tracer provider may be registered: spans need one.
    const api = options.openTelemetry === false || !mayHaveTracerProvider() ? undefined : openTelemetry();
    if (api && hasTracerProvider(api)) this.#spans(new RuntimeSpans(api, () => this.#builds.asking));
  }

  /** The same spans through OpenTelemetry, and each request's span carried to its node. */
  #spans(spans: RuntimeSpans): void {
    const created = this.#acquire.created;
    this.#acquire.created = (node, how) => {
      created?.(node, how);
      spans.node(node, how);
    };
    this.#builds.traceContext = spans.carrier;
    this.scheduler.on('transition', (request, from, to) => spans.request(request, from, to));
    this.on('node', (node) => spans.node(node, 'joined'));
  }

  /** Everything the timeline is made of: the scheduler's, the nodes' and the providers' own news. */
  #record(trace: RuntimeTrace): void {
    this.#created.add(trace.nodeCreated);
    this.scheduler.on('transition', (request, from, to) => trace.request(request, from, to));
    this.scheduler.on('restarted', (request, from, to) => trace.restarted(request, from, to));
    this.scheduler.on('retried', (request, from, error) => trace.retried(request, from, error));
    this.scheduler.on('stall', (report) => trace.stall(report));
    this.scheduler.on('stall.failed', (error) => trace.stallFailed(error));
    this.on('node', (node) => trace.nodeAdopted(node));
    this.on('node.lost', (node, error) => trace.nodeLost(node, error));
    this.on('fenced', (node, packet) => trace.fenced(node, packet));
    for (const provider of this.providers.values())
      if (provider instanceof ProcessNodeProvider)
        provider.on('exit', (node, step) => trace.exitStep(node, step));
      else if (provider instanceof HostedNodeProvider)
        provider.on('exit', (node, step) => trace.exitStep(node, step));
      else if (provider instanceof MixedNodeProvider)
        provider.local.on('exit', (node, step) => trace.exitStep(node, step));
  }

  /**
   * Serves a live view of this runtime on a local web page (docs/dashboard.md): its nodes and
   * their machines' states, requests by state, the timeline. Closed at `shutdown`. Binds
   * 127.0.0.1 unless `host` says otherwise, which then needs a `token`.
   */
  async serveDashboard(options: DashboardOptions = {}): Promise<Dashboard> {
    checkDashboardOptions(options);
    if (this.#closing) throw new NodeClosedError('runtime', 'the runtime is shutting down');
    const feed = new DashboardFeed(this.#clock, 'troupe runtime', runtimeCharts());
    const onRequest = (request: ScheduledRequest, from: RequestState | 'new', to: RequestState) =>
      feed.request(request, from, to);
    const onNode = (node: NodeContext) => feed.nodeAdopted(node);
    this.scheduler.on('transition', onRequest);
    this.on('node', onNode);
    this.#created.add(feed.nodeCreated);
    for (const node of this.nodes) feed.nodeAdopted(node);
    return this.#dashboards.serve(feed, options, () => {
      this.scheduler.off('transition', onRequest);
      this.off('node', onNode);
      this.#created.delete(feed.nodeCreated);
    });
  }

  /** The nodes in the pool now. */
  get nodes(): readonly NodeContext[] {
    return this.#builds.nodes;
  }

  /**
   * Builds one request (or several, resolving to their results in order). Identical requests are
   * built once. An aborted `signal` ends this build at once with the signal's reason, and cancels
   * (on its node too) each of its requests that no other build or waiting request still needs.
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
    const seen = new Map<RequestLike, RequestSpecBody>();
    const placed = placeAll(
      list.map((request) => toSpec(request, seen)),
      this.#place,
    );
    // Routing waits on a module import only the first time a task is seen.
    const specs = placed instanceof Promise ? await placed : placed;
    signal?.throwIfAborted();
    const scheduled = this.scheduler.submitAll(specs);
    this.scheduler.hold(scheduled);
    let aborted: ((reason: Error) => void) | undefined;
    const onAbort = () => {
      const reason =
        signal?.reason instanceof Error ? signal.reason : new RequestCancelledError('the build was aborted');
      // Requests another build (or a waiting request) still needs run on: only this build ends.
      this.scheduler.release(scheduled, reason);
      aborted?.(reason);
    };
    try {
      if (signal) {
        const abort = new Promise<never>((_, reject) => {
          aborted = reject;
        });
        signal.addEventListener('abort', onAbort, { once: true });
        await Promise.race([this.scheduler.whenAllSettled(scheduled), abort]);
      } else {
        await this.scheduler.whenAllSettled(scheduled);
      }
      const values = scheduled.map((request) => {
        if (request.state === 'completed') return request.value;
        throw request.error ?? new TroupeError(`request ${request.id} ${request.state}`);
      });
      return Array.isArray(requests) ? values : values[0];
    } finally {
      if (signal?.aborted !== true) this.scheduler.release(scheduled);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Cancels whatever is unfinished, then shuts the nodes down (or leaves them idle with `reuse`),
   * then writes the trace file if there is one. Idempotent.
   */
  shutdown(options: { reuse?: boolean } = {}): Promise<void> {
    this.#closing ??= (async () => {
      try {
        if (this.scheduler.unfinished > 0)
          this.scheduler.cancelAll(new RequestCancelledError('the runtime shut down'));
        this.scheduler.stop();
        // A node still starting is shut down by #grow when it arrives; wait for those first.
        while (this.#growth.size > 0) await Promise.all([...this.#growth]);
        await Promise.all(
          [...this.providers.values()].map((provider) => provider.shutdown(undefined, options)),
        );
        this.#builds.clear();
      } finally {
        await this.#dashboards.closeAll().catch(reportUnhandledError);
        // A timeline is a diagnosis: one that cannot be written is reported, and fails no run.
        await this.#trace?.end().catch(reportUnhandledError);
      }
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }

  /** Which pool a request runs in: the router's decision in multi-threaded mode. */
  readonly #place = (spec: RequestSpecBody): RequestSpec | Promise<RequestSpec> => {
    if (!this.router) return spec;
    const placement = this.router.route(spec);
    return placement instanceof Promise
      ? placement.then((pool) => ({ ...spec, pool }))
      : { ...spec, pool: placement };
  };

  async #grow(count: number, pool: string): Promise<void> {
    const provider = this.providers.get(pool);
    if (!provider) {
      this.#growthFailed(count, pool, new TroupeError(`no node provider for pool ${pool}`));
      return;
    }
    // A pool past its restart budget fails to grow as a provider that cannot launch does: after
    // this turn, not inside the scheduler's decision that asked for the nodes.
    const overBudget = this.#supervision.refusal(pool);
    let nodes: NodeContext[];
    try {
      nodes = await (overBudget ? Promise.reject(overBudget) : provider.acquire(count, this.#acquire));
    } catch (error) {
      this.#growthFailed(count, pool, error instanceof Error ? error : new TroupeError(String(error)));
      return;
    }
    if (this.#closing) {
      await provider.shutdown(nodes).catch(reportUnhandledError);
      return;
    }
    // A node given to a runtime is fresh (NodeProvider): one that is not is given back, and
    // counted short with the error that refused it.
    let refusal: Error | undefined;
    const refused: NodeContext[] = [];
    for (const node of nodes) {
      try {
        this.#builds.adopt(node, pool);
      } catch (error) {
        refused.push(node);
        refusal ??= new TroupeError(
          `the ${provider.kind} node provider gave node ${node.id}, which cannot join this runtime ` +
            `(a node given to a runtime must be fresh): ${(error as Error).message}`,
          { cause: error },
        );
      }
    }
    const adopted = nodes.length - refused.length;
    // A provider that hands back fewer than asked would leave the rest counted as on the way.
    if (adopted < count)
      this.#growthFailed(
        count - adopted,
        pool,
        refusal ??
          new TroupeError(
            `the ${provider.kind} node provider gave ${adopted} of the ${count} nodes asked for`,
          ),
      );
    if (refused.length > 0) await provider.shutdown(refused).catch(reportUnhandledError);
  }

  /** The requests waiting for the pool fail with `error` when it has no nodes; otherwise it is reported. */
  #growthFailed(count: number, pool: string, error: Error): void {
    if (this.#closing) return;
    if (this.scheduler.growthFailed(count, pool, error) === 0) reportUnhandledError(error);
  }
}

/** The ping times each adopted node gets; checked with the other options (`runtimeShape`). */
function pingTimes(nodes: RuntimeOptions['nodes']): Partial<PingTimes> {
  return {
    ...(nodes?.pingIntervalMs !== undefined && { intervalMs: nodes.pingIntervalMs }),
    ...(nodes?.pingTimeoutMs !== undefined && { timeoutMs: nodes.pingTimeoutMs }),
  };
}

export function createRuntime(options: RuntimeOptions = {}): Runtime {
  return new Runtime(options);
}

export { StallError };

const { reuse: _reuse, clock: _clock, random: _random, ...runtimeProcessShape } = processShape;

type NodesOptions = NonNullable<RuntimeOptions['nodes']>;

const nodesShape: Shape<NodesOptions> = {
  kind: oneOf(['inproc', 'thread', 'process', 'multi-threaded', 'remote']),
  launch: remoteShape.launch,
  endpoints: remoteShape.endpoints,
  local: integer(0),
  secret: remoteShape.secret,
  insecure: boolean,
  tls: remoteShape.tls,
  taskHosts: integer(1),
  max: integer(1),
  reuse: boolean,
  process: shape(runtimeProcessShape),
  provider: withMethods('a NodeProvider', ['acquire', 'shutdown']),
  prefetch: (value, path) => {
    if (value !== 'auto' && !(typeof value === 'number' && Number.isInteger(value) && value >= 0))
      throw invalid(path, "a non-negative integer or 'auto'", value);
  },
  pingIntervalMs: duration(1),
  // Infinity: never declare a node lost for silence (documented); otherwise a timer's range.
  pingTimeoutMs: (value, path) => {
    if (value !== Number.POSITIVE_INFINITY) duration(1)(value, path);
  },
  heartbeat: (value, path) => {
    checkShape(value, { intervalMs: duration(1), timeoutMs: duration(1) }, path);
    const { intervalMs, timeoutMs } = { ...DEFAULT_HEARTBEAT, ...(value as PingTimes) };
    if (intervalMs >= timeoutMs)
      throw new InvalidOptionError(`${path}.intervalMs`, `less than timeoutMs (${timeoutMs})`, intervalMs);
  },
  cancelGraceMs: duration(0),
  restarts: shape({ max: integer(0), periodMs: duration(1) }),
};

const runtimeShape: Shape<RuntimeOptions> = {
  nodes: (value, path) => {
    checkShape(value, nodesShape, path);
    checkNodeCombinations(value as NodesOptions, path);
  },
  policy: withMethods('a SchedulingPolicy', ['compare']),
  stallTimeoutMs: duration(1),
  stallErrorMs: duration(0),
  clock,
  random,
  trace: traceOption,
  summary: summaryOption,
  openTelemetry: boolean,
};

/** The options only remote nodes read. */
const REMOTE_KEYS = ['launch', 'endpoints', 'local', 'secret', 'insecure', 'tls'] as const;

/** `kind: 'remote'`: remote nodes, beside `local` process nodes in the same pool. */
function remoteProvider(
  nodes: NodesOptions,
  processOptions: ProcessNodeProviderOptions,
  clock: Clock,
  random: RandomSource,
): MixedNodeProvider {
  const remote = new RemoteNodeProvider({
    ...(nodes.launch && { launch: nodes.launch }),
    ...(nodes.endpoints && { endpoints: nodes.endpoints }),
    ...(nodes.secret !== undefined && { secret: nodes.secret }),
    ...(nodes.insecure !== undefined && { insecure: nodes.insecure }),
    ...(nodes.tls && { tls: nodes.tls }),
    ...(processOptions.shutdown && { shutdown: processOptions.shutdown }),
    ...(processOptions.launcher && { launcher: processOptions.launcher }),
    clock,
    random,
  });
  return new MixedNodeProvider(new ProcessNodeProvider(processOptions), nodes.local ?? 0, remote);
}

/** Options that only some kinds of node read are refused elsewhere: set there, they would do nothing. */
function checkNodeCombinations(nodes: NodesOptions, path: string): void {
  const kind = nodes.kind ?? 'inproc';
  if (nodes.provider !== undefined) {
    for (const key of ['kind', 'reuse', 'process', 'taskHosts', ...REMOTE_KEYS] as const) {
      if (nodes[key] !== undefined)
        throw invalid(
          join(path, key),
          `left out when ${join(path, 'provider')} is given (the provider decides where nodes come from)`,
          nodes[key],
        );
    }
    return;
  }
  for (const key of REMOTE_KEYS) {
    if (nodes[key] !== undefined && kind !== 'remote')
      throw invalid(join(path, key), `left out unless kind is 'remote' (kind is '${kind}')`, nodes[key]);
  }
  if (kind === 'remote') checkRemote(nodes, path);
  if (nodes.taskHosts !== undefined && kind !== 'multi-threaded')
    throw invalid(
      join(path, 'taskHosts'),
      `left out unless kind is 'multi-threaded' (kind is '${kind}')`,
      nodes.taskHosts,
    );
  if (nodes.reuse === true && kind !== 'process')
    throw invalid(join(path, 'reuse'), `left out unless kind is 'process' (kind is '${kind}')`, nodes.reuse);
  if (nodes.process !== undefined && kind !== 'process' && kind !== 'multi-threaded' && kind !== 'remote')
    throw invalid(
      join(path, 'process'),
      `left out unless kind is 'process', 'multi-threaded' or 'remote' (kind is '${kind}')`,
      nodes.process,
    );
}
