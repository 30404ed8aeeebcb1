import { type RandomSource, systemRandom } from '@troupe/transport';

export { type RandomSource, systemRandom };

/**
 * Identifiers for things troupe creates (nodes, requests, jobs), drawn from an injected random
 * source so a simulated run names everything the same way every time. The prefix says what the
 * id names, which makes logs and error messages readable: `node-V1StGXR8`.
 */
export interface IdSource {
  next(kind: string): string;
}

export function createIdSource(random: RandomSource = systemRandom, size = 10): IdSource {
  return { next: (kind) => `${kind}-${random.id(size)}` };
}
