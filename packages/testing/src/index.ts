// @troupe/testing's public door: what a user of docs/testing.md needs, covered by semver. Each
// name is listed in test/exports.test.ts; the rest is behind '@troupe/testing/internal'.
export { SeededRandom } from './seeded-random.js';
export { type ExhaustiveOptions, exhaustive, type VerifiedBound } from './sim/exhaustive.js';
export { type ExploreOptions, type ExploreResult, explore } from './sim/explore.js';
export { hotStates } from './sim/liveness.js';
export {
  jobsEndOnce,
  nothingAfterExitPacket,
  oneActiveRequestOnNode,
  oneActiveRequestPerNode,
  oneHostPerNode,
  requestsEndOnce,
  resultsMatchReference,
} from './sim/monitors.js';
export { SimulatedNodeProvider } from './sim/nodes.js';
export { ExplorerPool, type ExplorerPoolOptions } from './sim/pool.js';
export type { Scenario, World } from './sim/scenario.js';
export { formatTrace, type RunResult, replay, type Schedule, type TakenStep } from './sim/schedule.js';
export { type ShrinkOptions, type ShrinkResult, shrink } from './sim/shrink.js';
export {
  type FaultBudget,
  type Monitor,
  type SimulatedNode,
  Simulation,
  type TraceEntry,
  type Violation,
} from './sim/simulation.js';
export { formatStory } from './sim/story.js';
export { pct, randomWalk, type Strategy } from './sim/strategies.js';
export { VirtualClock } from './virtual-clock.js';
