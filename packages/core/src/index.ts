export { type Clock, systemClock, type TimerId } from './clock.js';
export { createIdSource, type IdSource, type RandomSource, systemRandom } from './ids.js';
