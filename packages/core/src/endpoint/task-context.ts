import { DependencyFailedError, YieldMisuseError } from '../errors.js';
import type { RequestOutcome, RequestSpecBody } from '../packets.js';
import { type RequestLike, toSpec } from '../tasks/request.js';
import type { TaskContext } from '../tasks/task.js';

/** How a task context reaches the host: implemented by the node endpoint. */
export interface TaskContextPort {
  block(requestId: string, specs: RequestSpecBody[]): Promise<RequestOutcome[]>;
  yield(requestId: string): void;
  reacquire(requestId: string): Promise<void>;
  log(requestId: string, message: string, level: 'debug' | 'info' | 'warn' | 'error'): void;
}

/**
 * A task's AbortSignal made only if the task asks for it: most tasks never look at their signal,
 * and an AbortController costs more than a small task's whole run.
 */
export interface LazySignal {
  /** The signal, made now if it was not yet (already aborted if the request was). */
  signal(): AbortSignal;
  /** Why the request was cancelled; undefined while it is not. Makes no signal. */
  reason(): unknown;
}

type ContextState = 'active' | 'blocked' | 'yielded' | 'reacquiring';

/**
 * The context a task runs with: one object per request, whose methods are made (and bound) only
 * when a task first reads them, so `const { log } = ctx` works and a task that uses none of
 * them costs no closures, and whose signal may be made on demand (`LazySignal`).
 */
class RequestContext implements TaskContext {
  readonly requestId: string;
  readonly deps: readonly unknown[];
  #state: ContextState = 'active';
  #signal: AbortSignal | undefined;
  readonly #lazy: LazySignal | undefined;
  readonly #port: TaskContextPort;
  #log: TaskContext['log'] | undefined;
  #build: TaskContext['build'] | undefined;
  #yielding: TaskContext['yielding'] | undefined;
  #yield: TaskContext['yield'] | undefined;
  #reacquire: TaskContext['reacquire'] | undefined;

  constructor(
    requestId: string,
    signal: AbortSignal | LazySignal,
    port: TaskContextPort,
    deps: readonly unknown[],
  ) {
    this.requestId = requestId;
    this.deps = deps;
    if (typeof (signal as Partial<LazySignal>).signal === 'function') this.#lazy = signal as LazySignal;
    else this.#signal = signal as AbortSignal;
    this.#port = port;
  }

  get signal(): AbortSignal {
    this.#signal ??= this.#lazy!.signal();
    return this.#signal;
  }

  get log(): TaskContext['log'] {
    this.#log ??= (message, level = 'info') => this.#port.log(this.requestId, message, level);
    return this.#log;
  }

  get build(): TaskContext['build'] {
    this.#build ??= (requests) => this.#doBuild(requests);
    return this.#build;
  }

  get yielding(): TaskContext['yielding'] {
    this.#yielding ??= async (wait) => {
      this.yield();
      try {
        return await wait();
      } finally {
        await this.reacquire();
      }
    };
    return this.#yielding;
  }

  get yield(): TaskContext['yield'] {
    this.#yield ??= () => {
      this.#expectActive('ctx.yield()');
      this.#state = 'yielded';
      this.#port.yield(this.requestId);
    };
    return this.#yield;
  }

  get reacquire(): TaskContext['reacquire'] {
    this.#reacquire ??= async () => {
      if (this.#state !== 'yielded')
        throw new YieldMisuseError(`ctx.reacquire() without ctx.yield() (the request is ${this.#state})`);
      // A cancelled request is not granted its node again; it ends here instead of waiting.
      this.#throwIfAborted();
      this.#state = 'reacquiring';
      await this.#port.reacquire(this.requestId);
      this.#state = 'active';
    };
    return this.#reacquire;
  }

  /** Throws the cancellation, if there was one, without making a signal nobody asked for. */
  #throwIfAborted(): void {
    if (this.#signal) this.#signal.throwIfAborted();
    else {
      const reason = this.#lazy!.reason();
      if (reason !== undefined) throw reason;
    }
  }

  #expectActive(what: string): void {
    if (this.#state !== 'active')
      throw new YieldMisuseError(`${what} while the request is ${this.#state}; reacquire first`);
  }

  async #doBuild<T>(requests: RequestLike | readonly RequestLike[]): Promise<T[]> {
    this.#expectActive('ctx.build');
    // A cancelled request waits on nothing more: its host has already let it go.
    this.#throwIfAborted();
    const list = (Array.isArray(requests) ? requests : [requests]) as readonly RequestLike[];
    if (list.length === 0) return [];
    const seen = new Map<RequestLike, RequestSpecBody>();
    const specs = list.map((request) => toSpec(request, seen));
    this.#state = 'blocked';
    let outcomes: RequestOutcome[];
    try {
      outcomes = await this.#port.block(this.requestId, specs);
    } finally {
      this.#state = 'active';
    }
    return outcomes.map((outcome) => {
      if (outcome.ok) return outcome.value as T;
      const cause = Object.assign(new Error(outcome.error.message), outcome.error);
      throw new DependencyFailedError(this.requestId, [outcome.id, ...(outcome.error.chain ?? [])], cause);
    });
  }
}

const NO_DEPS: readonly unknown[] = Object.freeze([]);

/**
 * The context a task runs with, reaching its host through `port`. `signal` may be a `LazySignal`,
 * made the first time the task reads `ctx.signal`.
 */
export function createTaskContext(
  requestId: string,
  signal: AbortSignal | LazySignal,
  port: TaskContextPort,
  deps: readonly unknown[] = NO_DEPS,
): TaskContext {
  return new RequestContext(requestId, signal, port, deps);
}
