// The shapes of a task and of what it runs with: types only (and the marker symbols), so that
// defining a task, its context and a request for it can all name them without importing each other.
import type { RetryPolicy } from '../request-policy.js';

export type { RetryPolicy } from '../request-policy.js';

/** The marker is a registered symbol, so a task made by another copy of @troupe/core still counts. */
export const kTask = Symbol.for('troupe.task');
export const kMultiThreadable = Symbol.for('troupe.task.multiThreadable');

export interface TaskDefinition<I = unknown, O = unknown> {
  /** The export name the task is found under in its module (or any name, when `module` says where). */
  name: string;
  /** The task is safe to run in a thread shared with other tasks (no process-wide state). */
  multiThreadable?: boolean;
  /**
   * The module nodes import to find this task; default: the module that called defineTask. A
   * relative path is taken relative to that module.
   */
  module?: string;
  /**
   * The requests this task depends on for a given input, declared up front (as Bazel, Nx and
   * Turborepo users write them): a request for this task with this input is not started until
   * they are done, and it runs with their results in `ctx.deps`. A request's own `deps`, when
   * given, are used instead. Computed where the request is made (the host for `runtime.build`,
   * the node for `ctx.build`), so it must be a pure function of the input.
   */
  deps?(input: I): readonly RequestLike[];
  /**
   * Safe to run again from the start (like Bazel's Skyframe functions): when a request for it
   * waits in `ctx.build`, the scheduler may drop that run and start the task again later on any
   * node, where its `ctx.build` finds the results ready. The dropped run never goes on past the
   * `ctx.build` it waits in (no code after it runs, `finally` blocks included): before it, do
   * only what may be done twice, and hold nothing that needs closing. A restartable request also
   * survives the loss of the node it waits on. Default false.
   */
  restartable?: boolean;
  /**
   * Runs again from the start, on another node, when the node running it is lost (a crash, a
   * kill, a lost connection): at most `attempts` times, each after `backoffMs`. Only for tasks
   * safe to run twice (their side effects are idempotent), which is why the default is never. A
   * request's own `retry` is used instead.
   */
  retry?: RetryPolicy;
  /**
   * How long one run may hold its node (its active time: blocked and yielded stretches do not
   * count) before it fails with `RequestTimeoutError` and is cancelled on its node. A node that
   * has not ended the run `nodes.cancelGraceMs` later is killed and replaced, so a hung task never
   * holds a build for ever. A request's own `timeoutMs` is used instead. Default: no limit.
   */
  timeoutMs?: number;
  run(input: I, ctx: TaskContext): O | Promise<O>;
}

export interface Task<I = unknown, O = unknown> {
  readonly name: string;
  readonly module: string;
  /** What a request names: `module#name`. */
  readonly id: string;
  readonly multiThreadable: boolean;
  /** Whether a run of it may be dropped and started again (`TaskDefinition.restartable`). */
  readonly restartable: boolean;
  /** How often a request for it runs again when its node is lost (`TaskDefinition.retry`). */
  readonly retry?: Readonly<RetryPolicy>;
  /** How long one run may hold its node (`TaskDefinition.timeoutMs`). */
  readonly timeoutMs?: number;
  /** Its declared dependencies for an input (`TaskDefinition.deps`), if it declares any. */
  deps?(input: I): readonly RequestLike[];
  run(input: I, ctx: TaskContext): O | Promise<O>;
  readonly [kTask]: true;
}

/** One request for `ctx.build`: a task (or its id) and its input. */
export interface RequestLike<I = unknown> {
  task: Task<I> | string;
  input: I;
  /** Estimated cost, relative to other requests; the scheduler runs long chains first. */
  cost?: number;
  /** Run in an isolated process even if the task is thread-safe. */
  outOfProcess?: boolean;
  /** Runs again when its node is lost (see `TaskDefinition.retry`). Default: its task's `retry`. */
  retry?: RetryPolicy;
  /** How long one run may hold its node (see `TaskDefinition.timeoutMs`). Default: its task's. */
  timeoutMs?: number;
  /**
   * Requests this one depends on, declared up front: it starts only when they are all done, and
   * its task finds their results, in this order, in `ctx.deps`. If one fails, this request fails
   * with `DependencyFailedError` without running. Default: the task's own `deps(input)`, if any.
   */
  deps?: readonly RequestLike[];
}

/** What a running task can do. */
export interface TaskContext {
  readonly requestId: string;
  /** The results of the request's declared dependencies (`deps`), in their order; empty if none. */
  readonly deps: readonly unknown[];
  /** Aborted when the request is cancelled; its reason says why. */
  readonly signal: AbortSignal;
  log(message: string, level?: 'debug' | 'info' | 'warn' | 'error'): void;
  /**
   * Waits for other requests and returns their results in order. The request is blocked and its
   * node free meanwhile; it continues on the same node. A failed dependency throws
   * `DependencyFailedError` with the chain of causes.
   */
  build<T = unknown>(requests: RequestLike | readonly RequestLike[]): Promise<T[]>;
  /**
   * Yields the node around a wait on something outside the runtime, then reacquires it before
   * returning. Scoped: the reacquire cannot be forgotten.
   */
  yielding<T>(wait: () => T | Promise<T>): Promise<T>;
  /** Frees the node; pair with `reacquire()`. Prefer `yielding`. */
  yield(): void;
  /** Waits until the node is this request's again. */
  reacquire(): Promise<void>;
}
