import { randomBytes } from 'node:crypto';
import { nanoid } from 'nanoid';

/**
 * Every source of randomness troupe uses: identifiers, nonces, jitter. Injected so that a
 * simulator run is a pure function of its seed.
 */
export interface RandomSource {
  /** A URL-safe unique identifier (nanoid's alphabet). */
  id(size?: number): string;
  /** `length` random bytes; used for authentication challenges, so the real one is cryptographic. */
  bytes(length: number): Uint8Array;
  /** A float in [0, 1), for jitter and back-off. */
  float(): number;
}

export const systemRandom: RandomSource = {
  id: (size = 21) => nanoid(size),
  bytes: (length) => new Uint8Array(randomBytes(length)),
  float: () => randomBytes(4).readUInt32LE(0) / 0x1_0000_0000,
};
