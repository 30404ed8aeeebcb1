// The generator's seeded random source: the same seed makes the same monorepo, byte for byte.
import { SeededRandom } from '@troupe/testing';

/** @troupe/testing's seeded source (mulberry32), with what the generator asks of it; not for anything secret. */
export class Random {
  readonly #source: SeededRandom;

  constructor(seed: number) {
    this.#source = new SeededRandom(seed);
  }

  /** A number in [0, 1). */
  next(): number {
    return this.#source.float();
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(list: readonly T[]): T {
    if (list.length === 0) throw new RangeError('pick from an empty list');
    return list[Math.floor(this.next() * list.length)]!;
  }

  /** Up to `count` distinct items of `list`, in the list's order. */
  sample<T>(list: readonly T[], count: number): T[] {
    const indices = list.map((_, index) => index);
    for (let i = indices.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [indices[i], indices[j]] = [indices[j]!, indices[i]!];
    }
    return indices
      .slice(0, Math.min(count, list.length))
      .sort((a, b) => a - b)
      .map((index) => list[index]!);
  }
}
