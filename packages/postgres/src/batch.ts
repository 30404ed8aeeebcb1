// Takes asked for together go to the database together. A dispatcher's free slots each call
// `take`, and one NOTIFY wakes them all at once: one query for as many jobs as there are askers
// replaces a query per slot (and a race between them for the pool's connections).

interface Asker<T> {
  resolve(item: T | undefined): void;
  reject(error: unknown): void;
}

export class Batcher<T> {
  readonly #fetch: (count: number) => Promise<T[]>;
  #waiting: Array<Asker<T>> = [];
  #draining = false;

  /** `fetch(n)` gets at most n items, in the order they should be handed out. */
  constructor(fetch: (count: number) => Promise<T[]>) {
    this.#fetch = fetch;
  }

  /**
   * One item, or undefined when the fetch found too few for every asker. Askers that come while
   * a fetch is on its way are served by the next one (which starts after they asked).
   */
  one(): Promise<T | undefined> {
    const item = new Promise<T | undefined>((resolve, reject) => this.#waiting.push({ resolve, reject }));
    if (!this.#draining) void this.#drain();
    return item;
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    // Askers woken by the same notification ask within this turn of the event loop: wait for
    // its end so that they share the first fetch. (No clock: this is an order, not a delay.)
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.#waiting.length > 0) {
      const askers = this.#waiting.splice(0);
      try {
        const items = await this.#fetch(askers.length);
        for (const [i, asker] of askers.entries()) asker.resolve(items[i]);
      } catch (error) {
        for (const asker of askers) asker.reject(error);
      }
    }
    this.#draining = false;
  }
}
