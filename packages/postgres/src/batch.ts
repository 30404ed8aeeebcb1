// Requests made together go to the database together. A dispatcher's free slots each call `take`,
// and one NOTIFY wakes them all at once: one query for as many jobs as there are askers replaces a
// query per slot (and a race between them for the pool's connections). Renewals due at once (an
// agent's slots renew on the same interval) are one statement the same way.

interface Asker<I, T> {
  readonly input: I;
  resolve(item: T | undefined): void;
  reject(error: unknown): void;
}

export class Batcher<I, T> {
  readonly #fetch: (inputs: I[]) => Promise<Array<T | undefined>>;
  #waiting: Array<Asker<I, T>> = [];
  #draining = false;

  /**
   * `fetch(inputs)` answers the askers' inputs in one go: item i is the i-th asker's (for takes,
   * at most one item per asker, in the order they should be handed out; fewer when there are
   * fewer).
   */
  constructor(fetch: (inputs: I[]) => Promise<Array<T | undefined>>) {
    this.#fetch = fetch;
  }

  /**
   * The answer to `input`, or undefined when the fetch had none for it. Askers that come while a
   * fetch is on its way are served by the next one (which starts after they asked).
   */
  one(input: I): Promise<T | undefined> {
    const item = new Promise<T | undefined>((resolve, reject) =>
      this.#waiting.push({ input, resolve, reject }),
    );
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
        const items = await this.#fetch(askers.map((asker) => asker.input));
        for (const [i, asker] of askers.entries()) asker.resolve(items[i]);
      } catch (error) {
        for (const asker of askers) asker.reject(error);
      }
    }
    this.#draining = false;
  }
}
