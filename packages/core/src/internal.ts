// @troupe/core/internal: what troupe's own packages, the bench and the tests reach into and a user
// of the README does not need: the machines, the packet protocol, the scheduler's parts, the node
// endpoint, the launcher and registry seams. NOT covered by semver: any name here may change or go
// in any release. A name moves to the index (and its export-list test) when a user needs it.

export { type Chart, machineChart, tableChart } from './dashboard/charts.js';
export { DashboardFeed, type FeedLimits } from './dashboard/feed.js';
export { type DashboardServerOptions, startDashboardServer } from './dashboard/server.js';
export type { DashboardMessage, DashboardSnapshot } from './dashboard/view.js';
export type { JobDispatcherSeams } from './dispatch/dispatcher.js';
export {
  bindJobSlotEffects,
  completionForExit,
  type JobSlotEffects,
  type JobSlotEvent,
  type JobSlotState,
  type JobStop,
  jobSlotMachine,
} from './dispatch/job-slot.machine.js';
export { WarmJobWorkers } from './dispatch/warm-workers.js';
export {
  InProcessJobWorkers,
  type JobPacket,
  type JobWorker,
  type JobWorkerFactory,
} from './dispatch/workers.js';
export type { NodeEndpointSeams } from './endpoint/endpoint.js';
export { NodeEndpoint, type NodeEndpointEvents, type NodeEndpointOptions } from './endpoint/endpoint.js';
export {
  bindNodeEndpointEffects,
  type NodeEndpointEffects,
  type NodeEndpointEvent,
  type NodeEndpointState,
  nodeEndpointMachine,
} from './endpoint/endpoint.machine.js';
export { type ListeningLine, parseListeningLine, reachableAddresses, tcpSalt } from './endpoint/listening.js';
export { TaskResolver } from './endpoint/resolver.js';
export { createTaskContext, type LazySignal, type TaskContextPort } from './endpoint/task-context.js';
export { createIdSource, type IdSource } from './ids.js';
export { isJob } from './jobs/define.js';
export type { MemoryJobServerSeams } from './jobs/memory-server.js';
export { isJobResult, resultForExitCode } from './jobs/result.js';
export type { NodeContextOptions, NodeContextSeams } from './nodes/context.js';
export type { HostPacket, NodeHost } from './nodes/host.js';
export { HostedNodeProvider } from './nodes/hosted.js';
export {
  bindNodeContextEffects,
  type NodeContextEffects,
  type NodeContextEvent,
  nodeContextMachine,
} from './nodes/node-context.machine.js';
export {
  flattenSpecs,
  type NodeShutdownReason,
  type Packet,
  PacketRegistry,
  PacketType,
  type PacketTypeName,
  type RequestOutcome,
  type RequestSpecBody,
  type SerializedError,
  serializeError,
  unflattenSpecs,
  type WireRequestSpec,
} from './packets.js';
export { type Placement, TaskRouter } from './runtime/router.js';
export type { RuntimeSeams } from './runtime/runtime.js';
export { advance, FINISHED, REQUEST_TRANSITIONS, requestKey } from './scheduler/request.js';
export { SCHEDULER_RULES, type SchedulerRules } from './scheduler/rules.js';
export {
  Scheduler,
  type SchedulerEvents,
  type SchedulerHost,
  type SchedulerOptions,
} from './scheduler/scheduler.js';
export {
  bindSchedulerEffects,
  type SchedulerMachineEffects,
  type SchedulerState,
  schedulerMachine,
} from './scheduler/scheduler.machine.js';
export { internalSeams, type MachineSeam } from './seams.js';
export {
  isPidAlive,
  type Launcher,
  type LaunchSpec,
  type NodeIdentity,
  type NodeProcess,
  processLauncher,
  systemIdentity,
} from './system/launcher.js';
export { type NodeRecord, NodeRegistry, nodeName } from './system/registry.js';
export { isMultiThreadable, isTask } from './tasks/define.js';
export { toSpec } from './tasks/request.js';
