// @troupe/testing's public door: what a user of docs/testing.md needs, covered by semver. Each
// name is listed in test/exports.test.ts; the rest is behind '@troupe/testing/internal'.
export { SeededRandom } from './seeded-random.js';
export {
  type ExploreOptions,
  type ExploreResult,
  exhaustive,
  explore,
  formatTrace,
  pct,
  type RunResult,
  randomWalk,
  replay,
  type Scenario,
  type Schedule,
  type Strategy,
  type World,
} from './sim/explore.js';
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
export {
  type FaultBudget,
  type Monitor,
  type SimulatedNode,
  Simulation,
  type TraceEntry,
  type Violation,
} from './sim/simulation.js';
export { VirtualClock } from './virtual-clock.js';
