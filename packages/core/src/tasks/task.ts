// The shapes of a task and of what it runs with: types only (and the marker symbols), so that
// defining a task, its context and a request for it can all name them without importing each other.
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
  run(input: I, ctx: TaskContext): O | Promise<O>;
}

export interface Task<I = unknown, O = unknown> {
  readonly name: string;
  readonly module: string;
  /** What a request names: `module#name`. */
  readonly id: string;
  readonly multiThreadable: boolean;
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
}

/** What a running task can do. */
export interface TaskContext {
  readonly requestId: string;
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
