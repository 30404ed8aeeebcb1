// What a Runtime is given and what it tells: its options, the seams a test reaches it by, its events.
import type { Clock } from '@troupe/transport';
import type { RandomSource } from '../ids.js';
import type { NodeContext, NodeKind } from '../nodes/context.js';
import type { ProcessNodeProviderOptions } from '../nodes/process.js';
import type { NodeProvider } from '../nodes/provider.js';
import type { RemoteLaunch, RemoteSecret, RemoteTls } from '../nodes/remote.js';
import type { SchedulingPolicy } from '../scheduler/policy.js';
import type { RequestState, ScheduledRequest } from '../scheduler/request.js';
import type { SchedulerRules } from '../scheduler/rules.js';
import type { StallReport } from '../scheduler/scheduler.js';
import type { internalSeams } from '../seams.js';
import type { TraceRecorder } from '../trace.js';
import type { TraceSummary } from '../trace-summary.js';
import type { FencedPacket } from './build-host.js';

export interface RuntimeOptions {
  nodes?: {
    /**
     * Default 'inproc'. 'multi-threaded' routes each task: thread-safe ones to thread nodes, the
     * rest (and requests that ask for it) to sidecar task-host processes. 'remote': nodes on other
     * machines, through `launch` prefixes and at `endpoints` (docs/remote.md), beside `local`
     * process nodes.
     */
    kind?: NodeKind | 'multi-threaded';
    /** Remote nodes: machines to start nodes on through a launcher prefix (`RemoteLaunch`). */
    launch?: RemoteLaunch[];
    /** Remote nodes: nodes started elsewhere with `--reuse`, as `tcp://host:port`. */
    endpoints?: string[];
    /** Remote nodes: process nodes on this machine in the same pool (a mixed pool). Default 0. */
    local?: number;
    /** Remote nodes: the shared secret; default for `launch`, a fresh one per run over the node's stdin. */
    secret?: RemoteSecret;
    /** Remote nodes: connect without a secret (nodes started with `--insecure`). */
    insecure?: boolean;
    /** Remote nodes: TLS for the host's side (CA, client certificate and key: paths or PEM). */
    tls?: RemoteTls;
    /** Multi-threaded mode: how many task-host processes at most. Default 1. */
    taskHosts?: number;
    /**
     * Largest pool; it grows on demand up to here. Default: the machine's available parallelism;
     * for remote nodes, `local` + every launch entry's `nodes` + the endpoints.
     */
    max?: number;
    /** Process nodes: leave them idle for the next run, and reuse idle ones. */
    reuse?: boolean;
    /** Options for process nodes. */
    process?: Omit<ProcessNodeProviderOptions, 'reuse' | 'clock' | 'random'>;
    /** Bring your own provider (overrides kind). */
    provider?: NodeProvider;
    /**
     * Requests sent ahead to each busy node once the pool is full: for many small tasks, where a
     * round trip per request would cost more than the task. See `SchedulerOptions`. Default
     * `'auto'` (one, behind a request whose task is known to leave its node within a few
     * milliseconds) for thread, process and remote nodes; 0 for in-process ones, which have no
     * round trip to hide.
     */
    prefetch?: number | 'auto';
    /**
     * A node that holds requests is pinged this often (default 1000 ms); its endpoint answers on
     * its event loop whatever its tasks do, unless a task runs synchronously all that time.
     */
    pingIntervalMs?: number;
    /**
     * A node that holds requests and has not answered pings for this long (default 10000 ms) is
     * declared lost: killed, and its requests fail with `NodeUnresponsiveError`. It must exceed
     * the longest synchronous stretch of any task on thread and process nodes. `Infinity`: never.
     */
    pingTimeoutMs?: number;
    /**
     * Heartbeats for nodes whose provider asks for them (remote nodes; not local ones, whose
     * sockets close and whose exits are seen when they die): such a node is pinged every
     * `intervalMs` (default 1000) whether or not it holds requests, and declared lost after
     * `timeoutMs` (default 5000) of silence, even idle, then replaced; the node drops a host it
     * has not heard from for `timeoutMs` and frees itself for the next. `intervalMs` must be
     * below `timeoutMs`.
     */
    heartbeat?: { intervalMs?: number; timeoutMs?: number };
    /**
     * A run that held its node past its `timeoutMs` is cancelled there; a node that has not ended
     * it this long after (default 5000 ms: its task ignores its signal, or is stuck) is killed
     * and its other requests fail with `NodeAbandonedError`, or run again if they may.
     */
    cancelGraceMs?: number;
    /**
     * How many nodes each pool may lose and still replace (OTP's restart intensity): at most
     * `max` (default 10) within `periodMs` (default 60000). Past it the pool starts no more
     * nodes: it goes on with those it has, and once it has none, what waits for it fails with
     * `RestartBudgetError` (a task that crashes every node it runs on cannot loop for ever).
     */
    restarts?: { max?: number; periodMs?: number };
  };
  policy?: SchedulingPolicy;
  /** See `Scheduler`: a stall event after this long without progress (default 5 s)... */
  stallTimeoutMs?: number;
  /** ...and a `StallError` for every unfinished request this much later (default 10 s). */
  stallErrorMs?: number;
  clock?: Clock;
  random?: RandomSource;
  /**
   * Records the run's timeline (docs/tracing.md): a file path, written as Chrome trace-event JSON
   * when the runtime shuts down (Perfetto and chrome://tracing open it), or a `TraceRecorder` of
   * yours; `false` records nothing. Left out, the `TROUPE_TRACE` environment variable names the
   * file, if it is set.
   */
  trace?: string | TraceRecorder | false;
  /**
   * At shutdown, a summary of the run's timeline for a person (docs/tracing.md): the critical path,
   * node utilisation, time lost, the slowest tasks. `true` writes it to stderr; a function is given
   * it instead (the text and the figures). It records the timeline even where `trace` does not.
   */
  summary?: boolean | ((text: string, summary: TraceSummary) => void);
  /**
   * Default true: when `@opentelemetry/api` is installed and a tracer provider registered (looked
   * at when the runtime is created), the same spans go to it, with the request, task and node as
   * attributes, and each request's span goes with it to its node, so spans a task makes there nest
   * under it (docs/tracing.md). `false` never loads it.
   */
  openTelemetry?: boolean;
  /** The model checker's broken variants only (`@troupe/core/internal`). */
  [internalSeams]?: RuntimeSeams;
}

/** Where a test reaches inside one runtime (see `internalSeams`). */
export interface RuntimeSeams {
  /** Rules replacing the scheduler's own (`SCHEDULER_RULES`). */
  scheduler?: Partial<SchedulerRules>;
  /**
   * The runtime's answer to a node whose connection failed, given `forget`, which drops the node
   * and fails the requests it held. Core calls `forget` at once.
   */
  nodeLost?: (node: NodeContext, forget: () => void) => void;
  /**
   * Handles what an incarnation declared lost still sends (a result, block or yield) as if it
   * were live, instead of dropping it (the model checker's `apply-lost-incarnation`).
   */
  appliesLostIncarnations?: boolean;
  /**
   * Handles a result, block or yield about a request the host already ended (cancelled while its
   * node still ran it) as if the request were live, instead of as the news that its node is free
   * (the model checker's `apply-late-news`).
   */
  appliesLateNews?: boolean;
}

export interface RuntimeEvents {
  request: [request: ScheduledRequest, from: RequestState | 'new', to: RequestState];
  stall: [report: StallReport];
  node: [node: NodeContext];
  /** A node died; the requests it held failed with `error`, or run again if they may (`retry`). */
  'node.lost': [node: NodeContext, error: Error];
  log: [entry: { node: string; requestId?: string; level: string; message: string }];
  /**
   * A result, block or yield from a connection of `node` that was declared lost (a node only
   * slow, or a partition that healed) was dropped, never applied: its request ran again, or failed.
   */
  fenced: [node: NodeContext, packet: FencedPacket];
}
