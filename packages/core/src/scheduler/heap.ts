/**
 * A binary heap under a comparator (smallest first), tracking positions so an item whose key
 * improved can move up in O(log n): the scheduler's queue of waiting requests, whose priorities
 * only ever rise as more requests come to wait on them.
 */
/** Where the heap keeps an item's position: in a map by default, or in the item itself. */
export interface HeapPositions<T> {
  get(item: T): number | undefined;
  set(item: T, index: number): void;
  delete(item: T): void;
}

function mapPositions<T>(): HeapPositions<T> {
  const map = new Map<T, number>();
  return {
    get: (item) => map.get(item),
    set: (item, index) => {
      map.set(item, index);
    },
    delete: (item) => {
      map.delete(item);
    },
  };
}

export class Heap<T> {
  readonly #items: T[] = [];
  readonly #index: HeapPositions<T>;

  /**
   * `positions` lets the items carry their own position (a field write per swap instead of a
   * map update: the scheduler's queue holds many thousands of requests).
   */
  constructor(
    private readonly compare: (a: T, b: T) => number,
    positions: HeapPositions<T> = mapPositions(),
  ) {
    this.#index = positions;
  }

  get size(): number {
    return this.#items.length;
  }

  has(item: T): boolean {
    return this.#index.get(item) !== undefined;
  }

  push(item: T): void {
    this.#items.push(item);
    this.#index.set(item, this.#items.length - 1);
    this.#up(this.#items.length - 1);
  }

  peek(): T | undefined {
    return this.#items[0];
  }

  pop(): T | undefined {
    const items = this.#items;
    if (items.length === 0) return undefined;
    const top = items[0]!;
    this.#removeAt(0);
    return top;
  }

  delete(item: T): boolean {
    const i = this.#index.get(item);
    if (i === undefined) return false;
    this.#removeAt(i);
    return true;
  }

  /** The item now compares smaller than before (its priority rose): move it up. */
  improved(item: T): void {
    const i = this.#index.get(item);
    if (i !== undefined) this.#up(i);
  }

  values(): readonly T[] {
    return this.#items;
  }

  #removeAt(i: number): void {
    const items = this.#items;
    const removed = items[i]!;
    this.#index.delete(removed);
    const last = items.pop()!;
    if (i < items.length) {
      items[i] = last;
      this.#index.set(last, i);
      this.#down(i);
      this.#up(i);
    }
  }

  #swap(i: number, j: number): void {
    const items = this.#items;
    const a = items[i]!;
    const b = items[j]!;
    items[i] = b;
    items[j] = a;
    this.#index.set(b, i);
    this.#index.set(a, j);
  }

  #up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.compare(this.#items[i]!, this.#items[parent]!) >= 0) return;
      this.#swap(i, parent);
      i = parent;
    }
  }

  #down(i: number): void {
    const items = this.#items;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < items.length && this.compare(items[left]!, items[smallest]!) < 0) smallest = left;
      if (right < items.length && this.compare(items[right]!, items[smallest]!) < 0) smallest = right;
      if (smallest === i) return;
      this.#swap(i, smallest);
      i = smallest;
    }
  }
}
