import { RequestCancelledError, YieldMisuseError } from '../errors.js';
import type { IdSource } from '../ids.js';
import { type PacketBodies, taskFailure } from '../packets.js';
import type { HostPacket, NodeHost } from './host.js';

interface Pending {
  task: string;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  cleanup: () => void;
}

/**
 * The low-level door to one node: a task run on it directly, outside any scheduler, for whoever
 * holds the node itself (a provider's `acquire`, a tool, a test). It is the host of a node
 * context until a runtime or a job worker takes the node over; then the door is shut. Nothing
 * here waits, yields or reacquires: a task that calls `ctx.build` or `ctx.yield` (`ctx.yielding`)
 * needs a runtime, and run here it is cancelled and its caller gets a `YieldMisuseError`.
 */
export class DirectRequests implements NodeHost {
  readonly #pending = new Map<string, Pending>();

  constructor(
    private readonly node: {
      readonly id: string;
      readonly ids: IdSource;
      send<K extends 'BuildRequest' | 'Cancel'>(kind: K, body: PacketBodies[K]): void;
    },
  ) {}

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.#pending.size;
  }

  /** Runs a task on the node and resolves with its result (asked only while this is the node's host). */
  request(task: string, input: unknown, options: { signal?: AbortSignal } = {}): Promise<unknown> {
    const signal = options.signal;
    if (signal?.aborted)
      return Promise.reject(signal.reason ?? new RequestCancelledError('aborted before it started'));
    const id = this.node.ids.next('req');
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.#pending.delete(id);
        try {
          this.node.send('Cancel', { id, reason: String(signal?.reason ?? 'aborted') });
        } catch {
          // The node is gone; there is nothing to cancel.
        }
        reject(signal?.reason ?? new RequestCancelledError(`request ${id} (${task}) was cancelled`));
      };
      const cleanup = () => signal?.removeEventListener('abort', onAbort);
      this.#pending.set(id, { task, resolve, reject, cleanup });
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        this.node.send('BuildRequest', { id, task, input });
      } catch (error) {
        this.#pending.delete(id);
        cleanup();
        reject(error);
      }
    });
  }

  receive(packet: HostPacket): void {
    switch (packet.type) {
      case 'BuildResult': {
        const pending = this.#pending.get(packet.body.id);
        if (!pending) return;
        this.#pending.delete(packet.body.id);
        pending.cleanup();
        if (packet.body.ok) pending.resolve(packet.body.value);
        else pending.reject(taskFailure(pending.task, this.node.id, packet.body.error));
        return;
      }
      case 'BuildBlocked':
        this.#needsRuntime(packet.body.requestId, 'ctx.build');
        return;
      case 'Yield':
        this.#needsRuntime(packet.body.requestId, 'ctx.yield');
        return;
      default:
        // Reacquire follows a Yield this door already refused; JobError belongs to a job worker.
        return;
    }
  }

  /**
   * The task asked for what only a scheduler gives (other requests' results, or the node back
   * after a yield): nobody here would ever answer, so it is cancelled and its caller told why.
   */
  #needsRuntime(id: string, what: 'ctx.build' | 'ctx.yield'): void {
    const pending = this.#pending.get(id);
    if (!pending) return;
    this.#pending.delete(id);
    pending.cleanup();
    const error = new YieldMisuseError(
      `request ${id} (${pending.task}) on node ${this.node.id} called ${what}: ctx.build and ctx.yield ` +
        'need a runtime; NodeContext.request runs a task alone',
    );
    try {
      this.node.send('Cancel', { id, reason: error.message });
    } catch {
      // The node is gone; there is nothing to cancel.
    }
    pending.reject(error);
  }

  /** A caller of `request` waits for its answer. */
  awaitsAnswers(): boolean {
    return this.#pending.size > 0;
  }

  /** The connection failed: every request still in flight fails with `error`. */
  connectionFailed(error: Error): void {
    for (const [id, pending] of this.#pending) {
      this.#pending.delete(id);
      pending.cleanup();
      pending.reject(error);
    }
  }
}
