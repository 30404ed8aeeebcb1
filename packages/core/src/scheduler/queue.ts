import { Heap } from './heap.js';

/** What the queue needs of its items: a place of their own to keep their position in it. */
export interface Queued {
  /** The queue's own: where the item is while it is queued, undefined otherwise. */
  queueIndex: number | undefined;
}

/**
 * The queue of requests waiting for a node, smallest first under `compare`: a sorted run plus a
 * heap. An item that compares no smaller than the run's last goes at the end of the run (a build's
 * submissions arrive in policy order, so nearly all of them do), anything else into the heap, and
 * `pop` takes the smaller of the run's head and the heap's top. A build of tens of thousands of
 * equal requests then costs O(1) per push and pop instead of a heap's O(log n) of comparisons.
 *
 * An item's key may only get smaller while it is queued (its priority rises), and only through
 * `improved`: an improved item in the run moves to the heap, so the run stays sorted.
 *
 * Positions are kept on the items: a heap index as itself, a run slot `s` as `-(s + 1)`.
 */
export class WaitingQueue<T extends Queued> {
  readonly #compare: (a: T, b: T) => number;
  readonly #heap: Heap<T>;
  /** The run: live items in order, holes where items left from the middle. */
  #run: Array<T | undefined> = [];
  #head = 0;
  #runSize = 0;

  constructor(compare: (a: T, b: T) => number) {
    this.#compare = compare;
    this.#heap = new Heap<T>(compare, {
      get: (item) => (item.queueIndex !== undefined && item.queueIndex >= 0 ? item.queueIndex : undefined),
      set: (item, index) => {
        item.queueIndex = index;
      },
      delete: (item) => {
        item.queueIndex = undefined;
      },
    });
  }

  get size(): number {
    return this.#runSize + this.#heap.size;
  }

  push(item: T): void {
    const run = this.#run;
    // While the run holds anything its last slot is live (`#removeFromRun` trims the tail).
    if (this.#runSize > 0 && this.#compare(run[run.length - 1]!, item) > 0) {
      this.#heap.push(item);
      return;
    }
    if (this.#runSize === 0) {
      run.length = 0;
      this.#head = 0;
    }
    item.queueIndex = -(run.length + 1);
    run.push(item);
    this.#runSize++;
  }

  /** The item `pop` would return, left in place. */
  peek(): T | undefined {
    const first = this.#runSize > 0 ? this.#run[this.#head] : undefined;
    const top = this.#heap.peek();
    if (first === undefined) return top;
    return top !== undefined && this.#compare(top, first) < 0 ? top : first;
  }

  pop(): T | undefined {
    const first = this.#runSize > 0 ? this.#run[this.#head] : undefined;
    const top = this.#heap.peek();
    if (first === undefined) return this.#heap.pop();
    if (top !== undefined && this.#compare(top, first) < 0) return this.#heap.pop();
    this.#removeFromRun(first);
    return first;
  }

  delete(item: T): boolean {
    const index = item.queueIndex;
    if (index === undefined) return false;
    if (index >= 0) return this.#heap.delete(item);
    this.#removeFromRun(item);
    return true;
  }

  /** `item`'s key became smaller (its priority rose): it moves forward. */
  improved(item: T): void {
    const index = item.queueIndex;
    if (index === undefined) return;
    if (index >= 0) {
      this.#heap.improved(item);
      return;
    }
    this.#removeFromRun(item);
    this.#heap.push(item);
  }

  #removeFromRun(item: T): void {
    const run = this.#run;
    const slot = -item.queueIndex! - 1;
    item.queueIndex = undefined;
    run[slot] = undefined;
    this.#runSize--;
    // Keep the head and the tail on live items: `push` compares with the tail, `pop` takes the head.
    while (this.#head < run.length && run[this.#head] === undefined) this.#head++;
    while (run.length > this.#head && run[run.length - 1] === undefined) run.pop();
    if (this.#head > 1024 && this.#head * 2 > run.length) this.#compact();
  }

  /** Drops the consumed front of the run, renumbering the items left in it. */
  #compact(): void {
    const rest = this.#run.slice(this.#head);
    this.#run = rest;
    this.#head = 0;
    for (let slot = 0; slot < rest.length; slot++) {
      const item = rest[slot];
      if (item !== undefined) item.queueIndex = -(slot + 1);
    }
  }
}
