import type { RandomSource } from '@troupe/core';

const ALPHABET = 'useandom-26T198340PX75pxJACKVERYMINDBUSHWOLF_GQZbfghjklqvwyzrict';

/**
 * A `RandomSource` that is a pure function of its seed (mulberry32), so ids, nonces and jitter
 * are the same in every replay of a simulated run. Never use it for real authentication.
 */
export class SeededRandom implements RandomSource {
  #state: number;

  constructor(readonly seed: number) {
    this.#state = seed >>> 0;
  }

  /** Where the sequence is: two sources in the same state draw the same numbers from here on. */
  get state(): number {
    return this.#state;
  }

  float(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  }

  /** An integer in [0, bound). */
  int(bound: number): number {
    return Math.floor(this.float() * bound);
  }

  id(size = 21): string {
    let out = '';
    for (let i = 0; i < size; i++) out += ALPHABET[this.int(64)];
    return out;
  }

  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = this.int(256);
    return out;
  }
}
