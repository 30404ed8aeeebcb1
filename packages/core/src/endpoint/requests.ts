import { type Link, ValueNotCloneableError } from '@troupe/transport';
import { findRefused } from '@troupe/transport/internal';
import { RequestCancelledError } from '../errors.js';
import { contextOf, openTelemetry } from '../otel/api.js';
import {
  flattenSpecs,
  type PacketBodies,
  PacketType,
  type RequestOutcome,
  serializeError,
} from '../packets.js';
import type { TaskChildren } from './children.js';
import type { TaskFunction, TaskResolver } from './resolver.js';
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
  /** Its task may be dropped while it waits in ctx.build and started again elsewhere. */
  restartable = false;

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

export interface TaskRequestsOptions {
  tasks: TaskResolver;
  /** Whether `link` is the endpoint's host now: staged requests start only for their host. */
  isHost(link: Link): boolean;
  children: TaskChildren | undefined;
  childGraceMs: number;
  /** Milliseconds, from the endpoint's clock: how long a task keeps the thread (`#keepsThread`). */
  now(): number;
  /** The endpoint's `answersCancelAtOnce` seam (the model checker's `answer-cancel-early`). */
  answersCancelAtOnce?: boolean | undefined;
}

/**
 * A task whose last run here held the thread at least this long (its synchronous part, before
 * it returned or first awaited) is taken to hold it again: what the node has queued to send goes
 * out before it starts, not after it. Quicker tasks run back to back and their results share a
 * message, which is what makes a flood of small tasks cheap.
 */
const HOLDS_THREAD_MS = 0.05;

/**
 * The task requests a node runs for its host: each with its task context, its cancellation and
 * its waits on the host (`ctx.build`, `ctx.yield`, `ctx.reacquire`). Which link is the host is
 * the endpoint's decision; this only runs what the host sends.
 */
export class TaskRequests {
  readonly #tasks: TaskResolver;
  readonly #isHost: (link: Link) => boolean;
  readonly #children: TaskChildren | undefined;
  readonly #childGraceMs: number;
  readonly #now: () => number;
  readonly #answersCancelAtOnce: boolean;
  /** Each task's last synchronous run here, in ms (`HOLDS_THREAD_MS`). */
  readonly #heldMs = new Map<string, number>();
  readonly #running = new Map<string, RunningRequest>();
  /**
   * The request active here (started, unblocked or granted, and not yet finished, blocked or
   * yielded), and the requests staged behind it, in order: one runs at a time, and the first
   * staged one starts the moment the active one leaves (the host's scheduler does the same).
   */
  #active: string | undefined;
  #staged: Array<PacketBodies['BuildRequest']> = [];
  /** The task port of the current host link (`#portOf`). */
  #port: { link: Link; port: TaskContextPort } | undefined;
  /** Re-entrancy guard of `#pump` (not lifecycle: the endpoint machine owns that). */
  #pumping = false;

  constructor(options: TaskRequestsOptions) {
    this.#tasks = options.tasks;
    this.#isHost = options.isHost;
    this.#children = options.children;
    this.#childGraceMs = options.childGraceMs;
    this.#now = options.now;
    this.#answersCancelAtOnce = options.answersCancelAtOnce ?? false;
  }

  /** Requests currently running. */
  get size(): number {
    return this.#running.size;
  }

  /** A `BuildRequest` from the host: it starts now if nothing is active here, else it is staged. */
  received(link: Link, request: PacketBodies['BuildRequest']): void {
    if (this.#active === undefined) this.#start(link, request);
    else this.#staged.push(request);
  }

  /** A `Cancel` from the host. */
  cancel(link: Link, id: string, why: string | undefined): void {
    const reason = why ?? 'cancelled by the host';
    const staged = this.#staged.findIndex((request) => request.id === id);
    if (staged >= 0) {
      // Never started: it ends here, with the answer every request gets.
      this.#staged.splice(staged, 1);
      const error = { message: reason, name: 'RequestCancelledError' };
      if (link.state === 'open') link.send(PacketType.BuildResult, { id, ok: false, error });
    } else {
      this.#abort(id, reason);
      // Never in core: a broken variant's node answers before the task has ended, and moves on.
      if (this.#answersCancelAtOnce && this.#running.has(id) && link.state === 'open') {
        link.send(PacketType.BuildResult, {
          id,
          ok: false,
          error: { message: reason, name: 'RequestCancelledError' },
        });
        this.#left(link, id);
      }
    }
  }

  /** A `BuildUnblocked`: the request is active again, and its `ctx.build` gets `results`. */
  unblocked(link: Link, requestId: string, results: RequestOutcome[]): void {
    this.#activate(requestId);
    // Its continuation runs next, for as long as it likes: what waits to be sent goes first.
    link.flush();
    const running = this.#running.get(requestId);
    const pending = running?.unblock;
    if (running) running.unblock = undefined;
    pending?.resolve(results);
  }

  /**
   * A `Restart`: the host starts `requestId` again elsewhere. Its run here, waiting in ctx.build,
   * is dropped: the wait never ends, so nothing after it runs and no result is sent. Its signal
   * aborts and its child processes end, as for a cancel.
   */
  restart(requestId: string): void {
    const running = this.#running.get(requestId);
    if (!running?.unblock) return;
    this.#running.delete(requestId);
    running.unblock = undefined;
    running.abort(new RequestCancelledError('restarted on another node'));
    void this.#children?.end(requestId, this.#childGraceMs);
  }

  /** A `ReacquireGranted`: the request is active again, and its `ctx.reacquire` returns. */
  granted(link: Link, requestId: string): void {
    this.#activate(requestId);
    link.flush();
    const running = this.#running.get(requestId);
    const pending = running?.grant;
    if (running) running.grant = undefined;
    pending?.resolve();
  }

  /** The host let go of the node: nothing staged starts, and what runs is cancelled. */
  release(): void {
    this.#staged = [];
    this.#activate(undefined);
    for (const id of [...this.#running.keys()]) this.#abort(id, 'the host released the node');
  }

  /** Forgets the build that ended: a request of it that still finishes is not answered. */
  reset(): void {
    this.#running.clear();
    this.#staged = [];
    this.#activate(undefined);
  }

  /** `id` is the request active here now (or none): the one whose code runs, and starts processes. */
  #activate(id: string | undefined): void {
    this.#active = id;
    this.#children?.activate(id);
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

  #start(link: Link, request: PacketBodies['BuildRequest']): void {
    this.#activate(request.id);
    this.#run(link, request);
    this.#pump(link);
  }

  /** `id` finished, blocked or yielded: if it was the active request, the next staged one starts. */
  #left(link: Link, id: string): void {
    if (this.#active !== id) return;
    this.#activate(undefined);
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
      while (this.#active === undefined && this.#isHost(link)) {
        const next = this.#staged.shift();
        if (!next) break;
        this.#activate(next.id);
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
    // Results and requests to the host queued this turn would otherwise wait out this task.
    if (!((this.#heldMs.get(request.task) ?? HOLDS_THREAD_MS) < HOLDS_THREAD_MS)) link.flush();
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
    running.restartable = task.restartable === true;
    let value: unknown;
    const began = this.#now();
    try {
      const ctx = createTaskContext(id, running, this.#portOf(link), request.deps);
      // A request with a trace context runs in it, where OpenTelemetry is installed.
      const api = request.traceContext && openTelemetry();
      value = api
        ? api.context.with(contextOf(api, request.traceContext!), () => task(request.input, ctx))
        : task(request.input, ctx);
    } catch (error) {
      this.#finish(link, id, running, failure(id, error));
      return;
    } finally {
      if (this.#heldMs.size < 1024 || this.#heldMs.has(request.task))
        this.#heldMs.set(request.task, this.#now() - began);
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
            const body: PacketBodies['BuildBlocked'] = { requestId, ...flattenSpecs(requests) };
            if (running?.restartable) body.restartable = true;
            send('BuildBlocked', body);
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
}
