import { assertCloneable, refusedValue } from '@troupe/transport/internal';
import type { RequestSpecBody } from '../packets.js';

/**
 * The life of one request, as a statechart table: each state lists the states it may move to.
 * The scheduler moves requests only through `advance`, which refuses any other move, so an
 * illegal transition is a loud bug instead of a silent corruption.
 *
 * (One XState actor per request was measured at ~29 µs per request's lifetime, over the 20 µs
 * budget for the whole scheduler; the scheduler machine owns the scheduler's own lifecycle and
 * this table owns each request's.)
 */
export const REQUEST_TRANSITIONS = {
  /** Submitted with declared dependencies not all done yet: it waits for them, holding no node. */
  pending: ['waiting', 'failed', 'cancelled'],
  /** Submitted (its declared dependencies done); waiting for a node. */
  waiting: ['executing', 'staged', 'failed', 'cancelled'],
  /**
   * Sent to a busy node ahead of time (prefetch): it starts there, on both sides at once, when the
   * node's active request leaves. Not active, and nothing else is granted the node before it.
   */
  staged: ['executing', 'retrying', 'failed', 'cancelled'],
  /** Running on its node; the node's one active request. */
  executing: ['blocked', 'yielded', 'completed', 'retrying', 'failed', 'cancelled'],
  /**
   * Waiting on other requests; its node is free meanwhile. One whose node was lost (restartable,
   * or with a `retry` attempt left) goes back to `waiting` once they are done, to run again from
   * the start on any node.
   */
  blocked: ['ready', 'waiting', 'failed', 'cancelled'],
  /**
   * Its dependencies are done; continues on its own node as soon as that node is free. A
   * restartable one may instead start again on another node (`executing` there), or go back to
   * `waiting` if its node was lost.
   */
  ready: ['executing', 'waiting', 'retrying', 'failed', 'cancelled'],
  /** Waiting on something outside the runtime; its node is free meanwhile. */
  yielded: ['reacquiring', 'retrying', 'failed', 'cancelled'],
  /** Wants its node back; gets it when no other request is active there. */
  reacquiring: ['executing', 'retrying', 'failed', 'cancelled'],
  /**
   * The node that held its run (running, staged, ready, yielded) was lost and it has a `retry`
   * attempt left: it waits out its back-off, holding no node, then waits for one to run again.
   */
  retrying: ['waiting', 'failed', 'cancelled'],
  completed: [],
  failed: [],
  cancelled: [],
} as const satisfies Record<string, readonly string[]>;

export type RequestState = keyof typeof REQUEST_TRANSITIONS;

export const FINISHED: ReadonlySet<RequestState> = new Set(['completed', 'failed', 'cancelled']);

/** The pool a request runs in when its spec names none. */
export const DEFAULT_POOL = 'default';

/** A request as submitted: what a task asks for (`RequestSpecBody`), and the pool that runs it. */
export interface RequestSpec extends RequestSpecBody {
  /** Which pool of nodes runs it (decided by the task router); default 'default'. */
  pool?: string;
  /** Its declared dependencies, placed in their pools as it is. */
  deps?: RequestSpec[];
}

export interface ScheduledRequest {
  readonly id: string;
  /** Identity for the result cache: the same task and input are built once. */
  readonly key: string;
  readonly spec: RequestSpec;
  readonly seq: number;
  /** The pool of nodes it runs on. */
  readonly pool: string;
  state: RequestState;
  /** The node its continuation lives on, from its first start. */
  node: string | undefined;
  /** Critical-path priority: its cost plus the longest chain of requests waiting on it. */
  priority: number;
  /**
   * Its declared dependencies (`spec.deps`), in their order, as requests: their values are what it
   * starts with. Undefined when it declared none.
   */
  declared: readonly ScheduledRequest[] | undefined;
  /** Unfinished requests this one is blocked on (changed only through graph.ts: `wait`, `unwait`). */
  waitingOn: ReadonlySet<ScheduledRequest>;
  /** Requests blocked on this one. */
  waiters: ReadonlySet<ScheduledRequest>;
  /**
   * Outside builds (`Scheduler.hold`) that asked for it and have not let go: an aborted build
   * cancels a request only when no other build and no waiting request still needs it.
   */
  builds: number;
  /** When it last became active on its node (for stall reports). */
  activeSince: number;
  /** How long its current run has been active, in its earlier stretches (before it blocked or yielded). */
  ranMs: number;
  /**
   * Its task may be restarted (`defineTask({ restartable: true })`), as its node said when it
   * blocked: its continuation can be dropped and the task run again from the start on any node.
   */
  restartable: boolean;
  /** How many times it was started again from the start (restarts and lost nodes). */
  restarts: number;
  /** How many of its `retry` attempts it has used: runs started again because its node was lost. */
  retries: number;
  /** Its place in its pool's queue of waiting requests, while it is there (the queue's own). */
  queueIndex: number | undefined;
  /**
   * What its latest `ctx.build` asked for, in order, finished or not: the results it is handed
   * when it continues. Set before anything can unblock it (a batch of requests that had all
   * finished already unblocks it at once).
   */
  awaited?: readonly ScheduledRequest[] | undefined;
  value?: unknown;
  error?: Error;
  /** Called once when it completes, fails or is cancelled (the scheduler's own list). */
  onSettled?: Array<(request: ScheduledRequest) => void> | undefined;
}

/**
 * The empty set every request starts with: most requests never wait on another, and two sets
 * each would be most of a request's allocation.
 */
export const NO_REQUESTS: ReadonlySet<ScheduledRequest> = new Set();

/** A new request, waiting on nothing yet: `pending` if it declared dependencies, else `waiting`. */
export function createRequest(id: string, key: string, spec: RequestSpec, seq: number): ScheduledRequest {
  return {
    id,
    key,
    spec,
    seq,
    pool: spec.pool ?? DEFAULT_POOL,
    state: spec.deps !== undefined && spec.deps.length > 0 ? 'pending' : 'waiting',
    node: undefined,
    priority: spec.cost ?? 1,
    declared: undefined,
    waitingOn: NO_REQUESTS,
    waiters: NO_REQUESTS,
    builds: 0,
    activeSince: 0,
    ranMs: 0,
    restartable: false,
    restarts: 0,
    retries: 0,
    queueIndex: undefined,
  };
}

export function advance(request: ScheduledRequest, to: RequestState): RequestState {
  const from = request.state;
  if (!(REQUEST_TRANSITIONS[from] as readonly string[]).includes(to)) {
    throw new Error(`request ${request.id} cannot go from ${from} to ${to}`);
  }
  request.state = to;
  return from;
}

/**
 * The result-cache key of a request: task plus input. Two inputs have the same key exactly when
 * they arrive at the task as the same value (docs/protocol.md, "Values"): Maps, Sets, Dates,
 * BigInts, typed arrays and the rest are told apart by kind and content, shared references and
 * cycles by where they point; only the key order of plain objects is ignored, so `{a, b}` and
 * `{b, a}` are the same request. An input that cannot cross to a node (a function, a symbol...)
 * throws `ValueNotCloneableError` naming its path (`input.handlers[2].onDone`).
 */
export function requestKey(spec: RequestSpec): string {
  let input: string;
  try {
    input = canonical(spec.input, { ids: undefined });
  } catch (error) {
    if (error !== REFUSED) throw error;
    assertCloneable(spec.input, 'input');
    throw error;
  }
  return `${spec.outOfProcess ? 'oop:' : ''}${spec.task}\u0000${input}`;
}

const REFUSED = Symbol('refused');

/**
 * A string that identifies `value` up to what structured cloning keeps. Every token but a
 * quoted string is structural, so no two different values write the same text. An object seen
 * before is written `#n`, n counting objects in the order they are written.
 */
function canonical(value: unknown, seen: { ids: Map<object, number> | undefined }): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      // -0 crosses the wire as 0; NaN and the infinities are not null.
      return Object.is(value, -0) ? '0' : String(value);
    case 'bigint':
      return `${value}n`;
    case 'boolean':
      return value ? 'true' : 'false';
    case 'undefined':
      return 'undefined';
    case 'function':
    case 'symbol':
      throw REFUSED;
  }
  if (value === null) return 'null';
  const object = value as object;
  seen.ids ??= new Map();
  const id = seen.ids.get(object);
  if (id !== undefined) return `#${id}`;
  seen.ids.set(object, seen.ids.size);
  if (Array.isArray(object)) {
    const items: string[] = [];
    for (let index = 0; index < object.length; index++) items.push(canonical(object[index], seen));
    return `[${items.join(',')}]`;
  }
  if (object.constructor !== Object) {
    if (refusedValue(object)) throw REFUSED;
    const special = canonicalSpecial(object, seen);
    if (special !== undefined) return special;
  }
  const keys = Object.keys(object).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical((object as Record<string, unknown>)[k], seen)}`).join(',')}}`;
}

/** The kinds structured cloning keeps beyond plain objects and arrays; undefined for the rest. */
function canonicalSpecial(
  object: object,
  seen: { ids: Map<object, number> | undefined },
): string | undefined {
  if (ArrayBuffer.isView(object)) {
    const kind = Buffer.isBuffer(object) ? 'Buffer' : Object.prototype.toString.call(object).slice(8, -1);
    return `${kind}:${Buffer.from(object.buffer, object.byteOffset, object.byteLength).toString('base64')}`;
  }
  if (object instanceof ArrayBuffer) return `ArrayBuffer:${Buffer.from(object).toString('base64')}`;
  if (object instanceof Date) return `Date(${object.getTime()})`;
  if (object instanceof RegExp) return `RegExp(${JSON.stringify(object.source)},${object.flags})`;
  if (object instanceof Map) {
    const entries: string[] = [];
    for (const [key, entry] of object) entries.push(`${canonical(key, seen)}=>${canonical(entry, seen)}`);
    return `Map{${entries.join(',')}}`;
  }
  if (object instanceof Set) {
    const members: string[] = [];
    for (const member of object) members.push(canonical(member, seen));
    return `Set{${members.join(',')}}`;
  }
  if (object instanceof Error) {
    const errors = object instanceof AggregateError ? `,${canonical(object.errors, seen)}` : '';
    return `Error(${JSON.stringify(object.name)},${JSON.stringify(object.message)},${canonical(object.cause, seen)}${errors})`;
  }
  return undefined;
}
