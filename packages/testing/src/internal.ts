// @troupe/testing/internal: what troupe's own tests, the bench and check:model reach into and a
// user writing scenarios does not need: the built-in scenarios and their broken variants' bugs,
// the simulator's parts, troupe's own machine coverage. NOT covered by semver: any name here may
// change or go in any release. A name moves to the index (and its export-list test) when a user
// needs it.
export { type CoverageData, MachineCoverage, machineGraph } from './coverage.js';
export { type Fault, FaultProxy, type FaultProxyOptions } from './fault-proxy.js';
export {
  createNamespace,
  type NetworkNamespace,
  netnsUnavailable,
  removeNamespaces,
  sweepStaleNamespaces,
} from './netns.js';
export {
  type PrivatePostgres,
  type PrivatePostgresOptions,
  startPrivatePostgres,
  stopLeftoverPostgres,
} from './private-postgres.js';
export {
  acceptSecondHost,
  applyLostIncarnations,
  completeIgnoringToken,
  completeJobTwice,
  grantBeforeStaged,
  grantReacquireWhileBusy,
  keepRequestsOfLostNodes,
  loseResultsOfFinishedRequests,
  loseWakeupOfIdleNode,
  releaseNodeOnCancel,
  renewIgnoringToken,
  sendAfterExitPacket,
  trustSilentNodes,
  unboundedCancel,
} from './scenarios/broken.js';
export { crashScenario } from './scenarios/crash.js';
export {
  buildScenario,
  cancelScenario,
  dispatcherScenario,
  fenceScenario,
  hangScenario,
  jobsScenario,
  partitionScenario,
  pipelineScenario,
  restartScenario,
  reuseScenario,
  scenarios as builtInScenarios,
  shutdownScenario,
} from './scenarios/index.js';
export { monitorFor, REVERT_TABLE, WITHOUT_VARIANT } from './scenarios/revert-table.js';
export { type VerifyOptions, verify } from './sim/explore.js';
export { type PendingDelivery, SimNetwork, type WirePacket } from './sim/network.js';
export { runSchedule } from './sim/schedule.js';
export { type ShortestResult, shortestCounterexample } from './sim/shortest.js';
export { type Move, sameViolation } from './sim/shrink.js';
export { describePacket, type Step } from './sim/simulation.js';
export {
  type StaticEndpoint,
  StaticEndpointProvider,
  type StaticEndpointProviderOptions,
} from './sim/static-endpoints.js';
export {
  type Chooser,
  type ScheduleRecord,
  type StrategyRecipe,
  strategyFromRecipe,
} from './sim/strategies.js';
export { type SshServer, sshdUnavailable, startSshd } from './sshd.js';
