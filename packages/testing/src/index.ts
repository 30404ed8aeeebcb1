export { type CoverageData, MachineCoverage, machineGraph } from './coverage.js';
export {
  buildScenario,
  cancelScenario,
  dispatcherScenario,
  hangScenario,
  jobsScenario,
  pipelineScenario,
  reuseScenario,
  scenarios as builtInScenarios,
  shutdownScenario,
} from './scenarios/index.js';
export { SeededRandom } from './seeded-random.js';
export { SimClock, type SimTimer } from './sim/clock.js';
export {
  type Chooser,
  type ExploreOptions,
  type ExploreResult,
  exhaustive,
  explore,
  formatTrace,
  pct,
  type RunResult,
  randomWalk,
  replay,
  runSchedule,
  type Scenario,
  type Schedule,
  type ScheduleRecord,
  type Strategy,
  type StrategyRecipe,
  strategyFromRecipe,
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
export { type PendingDelivery, SimNetwork, type WirePacket } from './sim/network.js';
export { SimulatedNodeProvider } from './sim/nodes.js';
export { ExplorerPool, type ExplorerPoolOptions } from './sim/pool.js';
export {
  describePacket,
  type FaultBudget,
  type Monitor,
  type SimulatedNode,
  Simulation,
  type Step,
  type TraceEntry,
  type Violation,
} from './sim/simulation.js';
export { VirtualClock } from './virtual-clock.js';
