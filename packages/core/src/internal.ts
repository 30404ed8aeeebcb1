// @troupe/core/internal: for @troupe/testing, the bench and troupe's own tests; not covered by semver.

// --- seams: broken variants of the model checker (helper "seams", issue 12) ---
export type { JobDispatcherSeams } from './jobs/dispatcher.js';
export type { NodeEndpointSeams } from './node/endpoint.js';
export type { NodeContextSeams } from './nodes/context.js';
export type { RuntimeSeams } from './runtime.js';
export { SCHEDULER_RULES, type SchedulerRules } from './scheduler/rules.js';
export { internalSeams, type MachineSeam } from './seams.js';
// --- end seams ---
