import { DependencyFailedError, YieldMisuseError } from '../errors.js';
import type { RequestOutcome, RequestSpecBody } from '../packets.js';
import { isTask, type Task } from './define.js';

/** One request for `ctx.build`: a task (or its id) and its input. */
export interface RequestLike<I = unknown> {
  task: Task<I> | string;
  input: I;
  /** Estimated cost, relative to other requests; the scheduler runs long chains first. */
  cost?: number;
  /** Run in an isolated process even if the task is thread-safe. */
  outOfProcess?: boolean;
}

export function toSpec(request: RequestLike): RequestSpecBody {
  const task = isTask(request.task) ? request.task.id : request.task;
  if (typeof task !== 'string')
    throw new TypeError('a request needs a task (defineTask) or a task id string');
  const spec: RequestSpecBody = { task, input: request.input };
  if (request.cost !== undefined) spec.cost = request.cost;
  if (request.outOfProcess) spec.outOfProcess = true;
  return spec;
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

/** How a task context reaches the host: implemented by the node endpoint. */
export interface TaskContextPort {
  block(requestId: string, specs: RequestSpecBody[]): Promise<RequestOutcome[]>;
  yield(requestId: string): void;
  reacquire(requestId: string): Promise<void>;
  log(requestId: string, message: string, level: 'debug' | 'info' | 'warn' | 'error'): void;
}

export function createTaskContext(
  requestId: string,
  signal: AbortSignal,
  port: TaskContextPort,
): TaskContext {
  let state: 'active' | 'blocked' | 'yielded' | 'reacquiring' = 'active';
  const expectActive = (what: string) => {
    if (state !== 'active')
      throw new YieldMisuseError(`${what} while the request is ${state}; reacquire first`);
  };
  const context: TaskContext = {
    requestId,
    signal,
    log: (message, level = 'info') => port.log(requestId, message, level),
    async build<T>(requests: RequestLike | readonly RequestLike[]): Promise<T[]> {
      expectActive('ctx.build');
      // A cancelled request waits on nothing more: its host has already let it go.
      signal.throwIfAborted();
      const list = (Array.isArray(requests) ? requests : [requests]) as readonly RequestLike[];
      if (list.length === 0) return [];
      const specs = list.map(toSpec);
      state = 'blocked';
      let outcomes: RequestOutcome[];
      try {
        outcomes = await port.block(requestId, specs);
      } finally {
        state = 'active';
      }
      return outcomes.map((outcome) => {
        if (outcome.ok) return outcome.value as T;
        const cause = Object.assign(new Error(outcome.error.message), outcome.error);
        throw new DependencyFailedError(requestId, [outcome.id, ...(outcome.error.chain ?? [])], cause);
      });
    },
    yield() {
      expectActive('ctx.yield()');
      state = 'yielded';
      port.yield(requestId);
    },
    async reacquire() {
      if (state !== 'yielded')
        throw new YieldMisuseError(`ctx.reacquire() without ctx.yield() (the request is ${state})`);
      // A cancelled request is not granted its node again; it ends here instead of waiting.
      signal.throwIfAborted();
      state = 'reacquiring';
      await port.reacquire(requestId);
      state = 'active';
    },
    async yielding<T>(wait: () => T | Promise<T>): Promise<T> {
      context.yield();
      try {
        return await wait();
      } finally {
        await context.reacquire();
      }
    },
  };
  return context;
}
