export { type Clock, systemClock, type TimerId } from './clock.js';
export {
  DependencyFailedError,
  InvalidOptionError,
  JobAlreadyCompletedError,
  type JobCancelKind,
  JobCancelledError,
  JobWorkerCrashedError,
  LeaseRenewalError,
  MalformedPacketError,
  NodeClosedError,
  NodeConnectionFailedError,
  type NodeExit,
  NodeLaunchError,
  NodeUnresponsiveError,
  RequestCancelledError,
  RequestCycleError,
  StallError,
  type StallHolder,
  TaskFailedError,
  TaskModuleError,
  TaskNotFoundError,
  TaskRefusedError,
  TroupeError,
  UnknownPacketError,
  YieldMisuseError,
} from './errors.js';
export { createIdSource, type IdSource, type RandomSource, systemRandom } from './ids.js';
export { defineJob, isJob, type Job, type JobContext, type JobFunction } from './jobs/define.js';
export {
  type JobCompletedEvent,
  JobDispatcher,
  type JobDispatcherEvents,
  type JobDispatcherOptions,
  type JobStartedEvent,
  type LeaseOptions,
} from './jobs/dispatcher.js';
export { isJobResult, JOB_EXIT_CODES, JobResult, resultForExitCode } from './jobs/result.js';
export {
  type JobCompletion,
  type JobRequest,
  type JobSource,
  type Lease,
  type MemoryJob,
  MemoryJobServer,
  type MemoryJobServerOptions,
  type MemoryJobStatus,
} from './jobs/source.js';
export {
  InProcessJobWorkers,
  type JobPacket,
  type JobWorker,
  type JobWorkerFactory,
  ProcessJobWorkers,
  type ProcessJobWorkersOptions,
} from './jobs/worker.js';
export {
  completionForExit,
  type JobDispatcherEvent,
  type JobDispatcherState,
  type JobStop,
  jobDispatcherMachine,
} from './machines/job-dispatcher.machine.js';
export { type NodeContextEvent, nodeContextMachine } from './machines/node-context.machine.js';
export {
  type NodeEndpointEvent,
  type NodeEndpointState,
  nodeEndpointMachine,
} from './machines/node-endpoint.machine.js';
export { type SchedulerState, schedulerMachine } from './machines/scheduler.machine.js';
export { NodeEndpoint, type NodeEndpointEvents, type NodeEndpointOptions } from './node/endpoint.js';
export {
  NodeContext,
  type NodeContextEvents,
  type NodeContextOptions,
  type NodeKind,
} from './nodes/context.js';
export { HostedNodeProvider } from './nodes/hosted.js';
export { InProcessNodeProvider, type InProcessNodeProviderOptions } from './nodes/inproc.js';
export {
  isPidAlive,
  type Launcher,
  type LaunchSpec,
  type NodeIdentity,
  type NodeProcess,
  processLauncher,
  systemIdentity,
} from './nodes/launcher.js';
export {
  ProcessNodeProvider,
  type ProcessNodeProviderEvents,
  type ProcessNodeProviderOptions,
  type ShutdownTimeouts,
} from './nodes/process.js';
export type { AcquireOptions, NodeProvider, NodeWarning, ReleaseOptions } from './nodes/provider.js';
export { type ListedNode, type NodeRecord, NodeRegistry, nodeName } from './nodes/registry.js';
export {
  listNodes,
  type ShutdownAllOptions,
  type ShutdownAllResult,
  shutdownAll,
} from './nodes/shutdown-all.js';
export { ThreadNodeProvider, type ThreadNodeProviderOptions } from './nodes/thread.js';
export {
  FIRST_USER_PACKET,
  type NodeShutdownReason,
  type Packet,
  type PacketBodies,
  PacketRegistry,
  PacketType,
  type PacketTypeName,
  type RequestOutcome,
  type RequestSpecBody,
  type SerializedError,
  serializeError,
  type UserPacket,
} from './packets.js';
export { createRuntime, Runtime, type RuntimeEvents, type RuntimeOptions } from './runtime.js';
export { criticalPathFirst, firstInFirstOut, type SchedulingPolicy } from './scheduler/policy.js';
export {
  advance,
  REQUEST_TRANSITIONS,
  type RequestSpec,
  type RequestState,
  requestKey,
  type ScheduledRequest,
} from './scheduler/request.js';
export {
  Scheduler,
  type SchedulerEvents,
  type SchedulerHost,
  type SchedulerOptions,
  type StallReport,
} from './scheduler/scheduler.js';
export {
  createTaskContext,
  type LazySignal,
  type RequestLike,
  type TaskContextPort,
} from './tasks/context.js';
export { defineTask, isMultiThreadable, isTask, type Task, type TaskDefinition } from './tasks/define.js';
export { type TaskContext, type TaskFunction, TaskResolver } from './tasks/resolve.js';
export { type Placement, TaskRouter } from './tasks/router.js';
