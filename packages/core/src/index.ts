// @troupe/core's public door: what a user of the README and docs/ needs, covered by semver. Each
// name is listed in test/exports.test.ts; the rest is behind '@troupe/core/internal'.
export { type Clock, systemClock, type TimerId } from './clock.js';
export type { Dashboard, DashboardOptions } from './dashboard/serve.js';
export {
  type JobCompletedEvent,
  JobDispatcher,
  type JobDispatcherEvents,
  type JobDispatcherOptions,
  type JobLeaseEvent,
  type JobStartedEvent,
  type LeaseOptions,
} from './dispatch/dispatcher.js';
export { ProcessJobWorkers, type ProcessJobWorkersOptions } from './dispatch/workers.js';
export type { TaskContext, TaskFunction } from './endpoint/resolver.js';
export {
  DependencyFailedError,
  DuplicateJobError,
  InvalidOptionError,
  JobAlreadyCompletedError,
  type JobCancelKind,
  JobCancelledError,
  JobServerClosedError,
  JobWorkerCrashedError,
  LeaseLostError,
  LeaseRenewalError,
  MalformedPacketError,
  NodeAbandonedError,
  NodeClosedError,
  NodeConnectionFailedError,
  type NodeExit,
  NodeLaunchError,
  NodeUnresponsiveError,
  RemoteNodeError,
  RequestCancelledError,
  RequestCycleError,
  RequestTimeoutError,
  RestartBudgetError,
  StallError,
  type StallHolder,
  TaskFailedError,
  TaskModuleError,
  TaskNotFoundError,
  TaskRefusedError,
  TroupeError,
  UnknownJobError,
  UnknownPacketError,
  YieldMisuseError,
} from './errors.js';
export { type RandomSource, systemRandom } from './ids.js';
export { defineJob, type Job, type JobContext, type JobDefinition, type JobFunction } from './jobs/define.js';
export {
  type MemoryJob,
  MemoryJobServer,
  type MemoryJobServerOptions,
  type MemoryJobStatus,
} from './jobs/memory-server.js';
export { JOB_EXIT_CODES, JobResult } from './jobs/result.js';
export type {
  JobCompletion,
  JobControl,
  JobRequest,
  JobSource,
  Lease,
} from './jobs/source.js';
export { NodeContext, type NodeContextEvents, type NodeKind } from './nodes/context.js';
export { InProcessNodeProvider, type InProcessNodeProviderOptions } from './nodes/inproc.js';
export {
  type NodeExitStep,
  ProcessNodeProvider,
  type ProcessNodeProviderEvents,
  type ProcessNodeProviderOptions,
  type ShutdownTimeouts,
} from './nodes/process.js';
export type { AcquireOptions, NodeProvider, NodeWarning, ReleaseOptions } from './nodes/provider.js';
export {
  type RemoteLaunch,
  RemoteNodeProvider,
  type RemoteNodeProviderEvents,
  type RemoteNodeProviderOptions,
  type RemoteSecret,
  type RemoteTls,
} from './nodes/remote.js';
export {
  listNodes,
  type ShutdownAllOptions,
  type ShutdownAllResult,
  shutdownAll,
} from './nodes/shutdown-all.js';
export { ThreadNodeProvider, type ThreadNodeProviderOptions } from './nodes/thread.js';
export type { PacketBodies } from './packets.js';
export type { RetryPolicy } from './request-policy.js';
export type { FencedPacket } from './runtime/build-host.js';
export { createRuntime, Runtime, type RuntimeEvents, type RuntimeOptions } from './runtime/runtime.js';
export { criticalPathFirst, firstInFirstOut, type SchedulingPolicy } from './scheduler/policy.js';
export type { RequestSpec, RequestState, ScheduledRequest } from './scheduler/request.js';
export type { StallReport, WaitFor } from './scheduler/scheduler.js';
export type { ListedNode } from './system/registry.js';
export { defineTask, type Task, type TaskDefinition } from './tasks/define.js';
export type { RequestLike } from './tasks/request.js';
export {
  type OpenSpan,
  type TraceEvent,
  type TraceFileContents,
  type TraceProcess,
  TraceRecorder,
  type TraceTrack,
} from './trace.js';
export {
  type CriticalStep,
  type NodeUse,
  summarizeTrace,
  type TaskTime,
  type TimeLost,
  type TraceSummary,
} from './trace-summary.js';
export { formatTraceSummary } from './trace-summary-text.js';
