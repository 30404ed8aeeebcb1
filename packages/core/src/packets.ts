import { inspect } from 'node:util';
import { type JobCancelKind, MalformedPacketError, TaskFailedError, UnknownPacketError } from './errors.js';
import { type RetryPolicy, retryProblem, timeoutProblem } from './request-policy.js';

/** Heartbeats both ways on a link (NodeConfiguration `heartbeat`): milliseconds, both above 0. */
export interface HeartbeatTimes {
  intervalMs: number;
  timeoutMs: number;
}

/** A span's context as it crosses a link (BuildRequest `traceContext`): W3C trace context. */
export interface TraceCarrier {
  traceparent: string;
  tracestate?: string;
}

/** `version-traceid-spanid-flags`, lower-case hex (W3C trace context, level 1). */
export const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * The packet kinds of the node protocol, with stable numbers (docs/protocol.md). Numbers 1–127
 * belong to troupe; 128–255 are reserved: a peer that sends one is refused like any unknown type.
 */
export const PacketType = {
  NodeConfiguration: 1,
  BuildRequest: 2,
  BuildResult: 3,
  Log: 4,
  Yield: 5,
  Reacquire: 6,
  Cancel: 7,
  MetadataUpdate: 8,
  NodeBuildComplete: 9,
  NodeShutdown: 10,
  NodeReady: 11,
  BuildBlocked: 12,
  BuildUnblocked: 13,
  ReacquireGranted: 14,
  JobRequest: 15,
  JobCancel: 16,
  Ping: 17,
  Pong: 18,
  JobError: 19,
  Restart: 20,
} as const;
export type PacketTypeName = keyof typeof PacketType;

export interface SerializedError {
  message: string;
  name?: string;
  code?: string;
  stack?: string;
  /** For a failed dependency: the requests from the one that waited down to the root cause. */
  chain?: string[];
}

export type NodeShutdownReason =
  /** The node finished and exits. */
  | 'BuildComplete'
  /** The node finished and stays, idle, for the next host. */
  | 'BuildCompleteReuse'
  /** The connection failed: never sent, synthesized by the side that saw it fail. */
  | 'ConnectionFailed'
  /** The node hit an error it cannot recover from. */
  | 'Error'
  /** The node already serves another host. */
  | 'Busy'
  /** An idle node whose loaded task modules changed on disk: it exits rather than run their old code. */
  | 'Retired';

export interface PacketBodies {
  /**
   * Host → node, first packet on a link: makes the sender the node's host. `incarnation` numbers
   * this connection of the node (what the host fences a lost one's late packets by);
   * `heartbeat`, when given, asks the node to drop this host after `timeoutMs` without a packet
   * from it (the host pings every `intervalMs` whether or not the node holds requests).
   */
  NodeConfiguration: {
    nodeId: string;
    hostPid: number;
    nodeReuse: boolean;
    incarnation: number;
    heartbeat?: HeartbeatTimes;
  };
  /** Host → node: run a task. */
  /** `deps`: the results of its declared dependencies, in their order (absent when it has none). */
  BuildRequest: {
    id: string;
    task: string;
    input: unknown;
    deps?: unknown[];
    /** The request's OpenTelemetry span, when the host has a tracer provider: W3C trace context. */
    traceContext?: TraceCarrier;
  };
  /** Node → host: how a request ended. */
  BuildResult: { id: string; ok: true; value: unknown } | { id: string; ok: false; error: SerializedError };
  Log: { requestId?: string; level: 'debug' | 'info' | 'warn' | 'error'; message: string };
  /** Node → host: a running request waits on something outside the runtime; its node is free meanwhile. */
  Yield: { requestId: string };
  /** Node → host: a yielded request wants its node back; it waits for ReacquireGranted. */
  Reacquire: { requestId: string };
  /** Host → node: stop a running request. */
  Cancel: { id: string; reason?: string };
  /** Host → node: new metadata for a running job (`requestId` is the job's id). */
  MetadataUpdate: { requestId?: string; metadata: Record<string, unknown> };
  /** Host → node: the build is over; stay for reuse, or exit. */
  NodeBuildComplete: { prepareForReuse: boolean };
  /** Node → host (or synthesized on a failed connection): the node is going away. */
  NodeShutdown: { reason: NodeShutdownReason; error?: SerializedError };
  /** Node → host, answering NodeConfiguration: this host is now the node's host. */
  NodeReady: { pid: number; threadId: number };
  /**
   * Node → host: a running request waits on other requests (`ctx.build`); its node is free
   * meanwhile. `requests` holds what it asked for (the first `asked`, default all) and the
   * dependencies they declare, each once (`WireRequestSpec.deps` are indices into the list).
   * `restartable`: its task may be started again from the start instead (Restart).
   */
  BuildBlocked: { requestId: string; requests: WireRequestSpec[]; asked?: number; restartable?: boolean };
  /** Host → node: what a blocked request waited on has finished; it continues now, on this node. */
  BuildUnblocked: { requestId: string; results: RequestOutcome[] };
  /** Host → node: a yielded request has its node back (the answer to Reacquire). */
  ReacquireGranted: { requestId: string };
  /**
   * Host → node: drop the blocked run of a restartable request (its task never goes on past the
   * `ctx.build` it waits in, and sends nothing more); the host starts it again elsewhere.
   */
  Restart: { requestId: string };
  /** Host → worker node: run this job; the worker exits when it ends, its exit code says how. */
  JobRequest: { jobId: string; job: string; message: unknown; metadata?: Record<string, unknown> };
  /** Host → worker node: stop the job; `kind` says why. */
  JobCancel: { jobId: string; kind: JobCancelKind; reason: string };
  /** Host → node, while the node holds requests (always, when it has heartbeats): are you there? */
  Ping: { seq: number };
  /** Node → host: the answer to Ping, sent by the endpoint whatever its tasks are doing. */
  Pong: { seq: number };
  /**
   * Worker node → host, just before it exits with the code for Failed: why the job failed (what
   * it threw, or what it returned instead of a result). The exit code is still the result.
   */
  JobError: { jobId: string; error: SerializedError };
}

/** A request as a task asks for it (`ctx.build`); the scheduler's `RequestSpec` adds its pool. */
export interface RequestSpecBody {
  /** Task id: a built-in, or `moduleSpecifier#exportName`. */
  task: string;
  input: unknown;
  /** Estimated cost (any unit, used relative to other requests). Default 1. */
  cost?: number;
  /** Run in an isolated process even if the task is thread-safe. */
  outOfProcess?: boolean;
  /** Declared dependencies: it starts when they are done, with their results (BuildRequest `deps`). */
  deps?: RequestSpecBody[];
  /** How often it runs again, from the start, when the node running it is lost. Default: never. */
  retry?: RetryPolicy;
  /**
   * How long one run of it may hold its node (its active time, waits not counted) before it fails
   * with `RequestTimeoutError` and is cancelled there. Default: no limit.
   */
  timeoutMs?: number;
}

/** A request in BuildBlocked: its declared dependencies are indices into the packet's list. */
export interface WireRequestSpec extends Omit<RequestSpecBody, 'deps'> {
  deps?: number[];
}

/**
 * `roots` and every spec they declare, transitively, as one list: each spec once by identity (so
 * a shared dependency is walked once and a graph of any shape costs linear time, a cycle
 * included), except that the roots keep their places, repeats too. `index` is each spec's first
 * place. A spec `descend` refuses is listed but not walked into.
 */
export function specGraph<S extends { deps?: readonly S[] | undefined }>(
  roots: readonly S[],
  descend: (spec: S) => boolean = () => true,
): { specs: S[]; index: Map<S, number> } {
  const index = new Map<S, number>();
  const specs: S[] = [];
  for (const root of roots) {
    if (!index.has(root)) index.set(root, specs.length);
    specs.push(root);
  }
  for (let at = 0; at < specs.length; at++) {
    const spec = specs[at]!;
    if (spec.deps === undefined || index.get(spec) !== at || !descend(spec)) continue;
    for (const dependency of spec.deps) {
      if (index.has(dependency)) continue;
      index.set(dependency, specs.length);
      specs.push(dependency);
    }
  }
  return { specs, index };
}

/**
 * `roots` and every dependency they declare as one list, each spec once (by identity: a shared
 * dependency crosses once, however many declare it), roots first.
 */
export function flattenSpecs(roots: readonly RequestSpecBody[]): {
  requests: WireRequestSpec[];
  asked?: number;
} {
  if (!roots.some((root) => root.deps !== undefined)) return { requests: roots as WireRequestSpec[] };
  const { specs, index } = specGraph(roots);
  const requests = specs.map((spec) => {
    const { deps, ...rest } = spec;
    const wire: WireRequestSpec = rest;
    if (deps !== undefined) wire.deps = deps.map((dependency) => index.get(dependency)!);
    return wire;
  });
  return { requests, asked: roots.length };
}

/** The requests a BuildBlocked asked for, their declared dependencies as objects again. */
export function unflattenSpecs(
  requests: readonly WireRequestSpec[],
  asked = requests.length,
): RequestSpecBody[] {
  if (!requests.some((request) => request.deps !== undefined))
    return requests.slice(0, asked) as RequestSpecBody[];
  const specs: RequestSpecBody[] = requests.map(({ deps: _deps, ...rest }) => rest);
  requests.forEach((request, at) => {
    if (request.deps !== undefined) specs[at]!.deps = request.deps.map((dependency) => specs[dependency]!);
  });
  return specs.slice(0, asked);
}

export type RequestOutcome =
  | { id: string; ok: true; value: unknown }
  | { id: string; ok: false; error: SerializedError };

export type Packet = { [K in PacketTypeName]: { type: K; body: PacketBodies[K] } }[PacketTypeName];

type Check = (body: Record<string, unknown>) => string | undefined;

const isString = (v: unknown) => typeof v === 'string';
const isMs = (v: unknown) => typeof v === 'number' && v > 0 && v <= 2_147_483_647;
const isHeartbeat = (v: unknown) =>
  typeof v === 'object' &&
  v !== null &&
  isMs((v as HeartbeatTimes).intervalMs) &&
  isMs((v as HeartbeatTimes).timeoutMs) &&
  (v as HeartbeatTimes).intervalMs < (v as HeartbeatTimes).timeoutMs;
const isTraceCarrier = (v: unknown) =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as TraceCarrier).traceparent === 'string' &&
  TRACEPARENT.test((v as TraceCarrier).traceparent) &&
  ((v as TraceCarrier).tracestate === undefined ||
    (typeof (v as TraceCarrier).tracestate === 'string' && (v as TraceCarrier).tracestate!.length <= 512));
const field =
  (name: string, test: (v: unknown) => boolean, what: string, optional = false): Check =>
  (body) =>
    (optional && body[name] === undefined) || test(body[name]) ? undefined : `${name} must be ${what}`;

const checks: Record<PacketTypeName, Check[]> = {
  NodeConfiguration: [
    field('nodeId', isString, 'a string'),
    field('hostPid', Number.isInteger, 'an integer'),
    field('nodeReuse', (v) => typeof v === 'boolean', 'a boolean'),
    field('incarnation', (v) => Number.isSafeInteger(v) && (v as number) >= 1, 'an integer from 1'),
    field(
      'heartbeat',
      isHeartbeat,
      '{intervalMs, timeoutMs}: milliseconds above 0, interval below timeout',
      true,
    ),
  ],
  BuildRequest: [
    field('id', isString, 'a string'),
    field('task', isString, 'a string'),
    field('deps', Array.isArray, 'a list', true),
    field('traceContext', isTraceCarrier, '{traceparent, tracestate?}: W3C trace context', true),
  ],
  BuildResult: [
    field('id', isString, 'a string'),
    field('ok', (v) => typeof v === 'boolean', 'a boolean'),
    (b) =>
      b.ok === false && (typeof b.error !== 'object' || b.error === null)
        ? 'error must be an object'
        : undefined,
  ],
  Log: [
    field(
      'level',
      (v) => v === 'debug' || v === 'info' || v === 'warn' || v === 'error',
      'debug|info|warn|error',
    ),
    field('message', isString, 'a string'),
    field('requestId', isString, 'a string', true),
  ],
  Yield: [field('requestId', isString, 'a string')],
  Reacquire: [field('requestId', isString, 'a string')],
  Cancel: [field('id', isString, 'a string'), field('reason', isString, 'a string', true)],
  MetadataUpdate: [field('metadata', (v) => typeof v === 'object' && v !== null, 'an object')],
  NodeBuildComplete: [field('prepareForReuse', (v) => typeof v === 'boolean', 'a boolean')],
  NodeShutdown: [field('reason', isString, 'a string')],
  NodeReady: [
    field('pid', Number.isInteger, 'an integer'),
    field('threadId', Number.isInteger, 'an integer'),
  ],
  BuildBlocked: [
    field('requestId', isString, 'a string'),
    field(
      'requests',
      (v) =>
        Array.isArray(v) &&
        v.every(
          (r) =>
            typeof r === 'object' &&
            r !== null &&
            typeof (r as { task?: unknown }).task === 'string' &&
            ((r as { retry?: unknown }).retry === undefined ||
              retryProblem((r as { retry?: unknown }).retry) === undefined) &&
            ((r as { timeoutMs?: unknown }).timeoutMs === undefined ||
              timeoutProblem((r as { timeoutMs?: unknown }).timeoutMs) === undefined) &&
            ((r as { deps?: unknown }).deps === undefined ||
              (Array.isArray((r as { deps?: unknown }).deps) &&
                ((r as { deps: unknown[] }).deps as unknown[]).every(
                  (d) => Number.isInteger(d) && (d as number) >= 0 && (d as number) < v.length,
                ))),
        ),
      'a list of {task, input, deps?: indices into the list, retry?: {attempts, backoffMs?}, timeoutMs?}',
    ),
    (b) =>
      b.asked === undefined ||
      (Number.isInteger(b.asked) &&
        (b.asked as number) >= 1 &&
        (b.asked as number) <= (b.requests as unknown[]).length)
        ? undefined
        : 'asked must be an integer from 1 to the number of requests',
  ],
  BuildUnblocked: [field('requestId', isString, 'a string'), field('results', Array.isArray, 'a list')],
  ReacquireGranted: [field('requestId', isString, 'a string')],
  Restart: [field('requestId', isString, 'a string')],
  JobRequest: [
    field('jobId', isString, 'a string'),
    field('job', isString, 'a string'),
    field('metadata', (v) => typeof v === 'object' && v !== null, 'an object', true),
  ],
  JobCancel: [
    field('jobId', isString, 'a string'),
    field(
      'kind',
      (v) => v === 'CancelRequest' || v === 'RuntimeShutdown' || v === 'OperatingSystemShutdown',
      'CancelRequest|RuntimeShutdown|OperatingSystemShutdown',
    ),
    field('reason', isString, 'a string'),
  ],
  Ping: [field('seq', Number.isInteger, 'an integer')],
  Pong: [field('seq', Number.isInteger, 'an integer')],
  JobError: [
    field('jobId', isString, 'a string'),
    field('error', (v) => typeof v === 'object' && v !== null, 'an object'),
  ],
};

const names = new Map<number, PacketTypeName>(
  Object.entries(PacketType).map(([name, type]) => [type, name as PacketTypeName]),
);

/**
 * The packet factory of one side of a connection: turns a (type, body) pair read off a link into
 * a typed packet, or a `ProtocolError` (unknown type, malformed body) that closes that link only.
 */
export class PacketRegistry {
  /** Throws `UnknownPacketError` or `MalformedPacketError`. */
  decode(type: number, body: unknown): Packet {
    const name = names.get(type);
    if (!name) throw new UnknownPacketError(type);
    if (typeof body !== 'object' || body === null)
      throw new MalformedPacketError(name, 'body must be an object');
    for (const check of checks[name]) {
      const problem = check(body as Record<string, unknown>);
      if (problem) throw new MalformedPacketError(name, problem);
    }
    return { type: name, body } as Packet;
  }
}

export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) {
    const out: SerializedError = { message: error.message, name: error.name };
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string') out.code = code;
    const chain = (error as { chain?: unknown }).chain;
    if (Array.isArray(chain) && chain.every((c) => typeof c === 'string')) out.chain = chain;
    if (error.stack) out.stack = error.stack;
    return out;
  }
  return { message: describeThrown(error) };
}

/**
 * A thrown value that is not an Error, readably: a string as it is, anything else as code would
 * show it (`{ code: 42, reason: 'busy' }`), never "[object Object]".
 */
export function describeThrown(value: unknown): string {
  if (typeof value === 'string') return value;
  return inspect(value, {
    depth: 4,
    breakLength: Number.POSITIVE_INFINITY,
    maxArrayLength: 20,
    maxStringLength: 500,
  });
}

/** The host's error for a task whose node answered with a failed BuildResult: one way, everywhere. */
export function taskFailure(task: string, nodeId: string, error: SerializedError): TaskFailedError {
  return new TaskFailedError(task, nodeId, error.message, error.code, error.stack, error.chain);
}
