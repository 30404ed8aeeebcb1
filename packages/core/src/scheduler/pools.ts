import { WaitingQueue } from './queue.js';
import type { ScheduledRequest } from './request.js';

/** Nodes come in pools (thread nodes, task hosts...); a request runs only on nodes of its pool. */
export interface Pool {
  readonly name: string;
  readonly waiting: WaitingQueue<ScheduledRequest>;
  /**
   * Ready continuations that may be restarted (`restartable`) on another node of the pool than
   * their own, which is busy: a free node may take one instead of waiting work.
   */
  readonly restartable: Set<ScheduledRequest>;
  readonly nodes: Set<NodeSlot>;
  /** Nodes asked of the host and not yet added. */
  growing: number;
  readonly max: number | undefined;
  /**
   * Why the pool's last growth failed. While set the pool does not grow: the host has already
   * retried, and asking again at once would loop. Cleared when the pool's waiting requests fail
   * with it (no nodes) or when every request has finished (the end of a run).
   */
  growthError: Error | undefined;
}

/** One node, as the scheduler sees it: who is active there, and who waits for it. */
export interface NodeSlot {
  readonly id: string;
  readonly pool: Pool;
  active: ScheduledRequest | undefined;
  /** Requests whose continuation lives here and that could run now (ready or reacquiring). */
  readonly runnable: Set<ScheduledRequest>;
  /** Requests sent ahead, in the order the node will start them. */
  readonly staged: ScheduledRequest[];
}

/** A scheduler's pools, made on first use, and their nodes. */
export class Pools {
  /** Every node, in the order it was added: the order free nodes are offered work. */
  readonly nodes = new Map<string, NodeSlot>();
  readonly #byName = new Map<string, Pool>();
  readonly #maxNodes: number | Readonly<Record<string, number>> | undefined;
  readonly #compare: (a: ScheduledRequest, b: ScheduledRequest) => number;

  /** `compare` orders each pool's waiting requests (the scheduling policy's). */
  constructor(
    maxNodes: number | Readonly<Record<string, number>> | undefined,
    compare: (a: ScheduledRequest, b: ScheduledRequest) => number,
  ) {
    this.#maxNodes = maxNodes;
    this.#compare = compare;
  }

  /** The pool called `name`, made now if it is new. */
  get(name: string): Pool {
    let pool = this.#byName.get(name);
    if (!pool) {
      const max = typeof this.#maxNodes === 'number' ? this.#maxNodes : this.#maxNodes?.[name];
      pool = {
        name,
        waiting: new WaitingQueue<ScheduledRequest>(this.#compare),
        restartable: new Set(),
        nodes: new Set(),
        growing: 0,
        max,
        growthError: undefined,
      };
      this.#byName.set(name, pool);
    }
    return pool;
  }

  /** The pool called `name` if there is one. */
  find(name: string): Pool | undefined {
    return this.#byName.get(name);
  }

  values(): IterableIterator<Pool> {
    return this.#byName.values();
  }

  /** The node `request`'s continuation lives on, while that node is here. */
  slotOf(request: ScheduledRequest): NodeSlot | undefined {
    return request.node === undefined ? undefined : this.nodes.get(request.node);
  }

  /** Requests waiting for a node, in every pool. */
  get waiting(): number {
    let waiting = 0;
    for (const pool of this.#byName.values()) waiting += pool.waiting.size;
    return waiting;
  }

  addNode(id: string, poolName: string): void {
    if (this.nodes.has(id)) throw new Error(`node ${id} is already in the pool`);
    const pool = this.get(poolName);
    // One of the nodes the pool asked for has come (or one it did not ask for: nothing was on the way).
    if (pool.growing > 0) pool.growing--;
    const slot: NodeSlot = { id, pool, active: undefined, runnable: new Set(), staged: [] };
    pool.nodes.add(slot);
    this.nodes.set(id, slot);
  }

  /** Takes the node out of its pool; says whether it was there. */
  removeNode(id: string): boolean {
    const slot = this.nodes.get(id);
    if (!slot) return false;
    this.nodes.delete(id);
    slot.pool.nodes.delete(slot);
    return true;
  }
}
