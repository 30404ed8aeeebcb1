import { InvalidOptionError, ProtocolError, TroupeError } from '@troupe/transport';

export { InvalidOptionError, TroupeError };

/**
 * A request names a task nodes could never load: a relative module path, or a task whose module
 * is the host's own script or has no file. Thrown by `build` (and, for a job, by
 * `MemoryJobServer.add`) before anything is sent.
 */
export class TaskModuleError extends TroupeError {
  static override readonly code = 'TROUPE_TASK_MODULE';
  constructor(
    readonly task: string,
    detail: string,
  ) {
    super(`task ${task} cannot be run on a node: ${detail}`);
  }
}

/** A packet type no handler is registered for: a protocol error for that link only. */
export class UnknownPacketError extends ProtocolError {
  static override readonly code = 'TROUPE_UNKNOWN_PACKET';
  constructor(readonly packetType: number) {
    super(`unknown packet type ${packetType}`);
  }
}

/** A packet of a known type whose body does not have the expected shape. */
export class MalformedPacketError extends ProtocolError {
  static override readonly code = 'TROUPE_MALFORMED_PACKET';
  constructor(
    readonly packetName: string,
    detail: string,
  ) {
    super(`malformed ${packetName} packet: ${detail}`);
  }
}

export interface NodeExit {
  readonly code: number | null;
  readonly signal: string | null;
}

/** `node n1`, `node n1 (pid 42)`, `node n1 (pid 42, on ssh build-02 --)`: a node as errors name it. */
export function describeNode(nodeId: string, pid: number | undefined, location?: string): string {
  const where = location !== undefined && location !== 'local' ? `on ${location}` : undefined;
  const details = [pid === undefined ? undefined : `pid ${pid}`, where].filter((part) => part !== undefined);
  return details.length === 0 ? `node ${nodeId}` : `node ${nodeId} (${details.join(', ')})`;
}

/**
 * A node's connection failed: the process died, the pipe broke, the peer sent garbage. Work the
 * node held fails with this error; it says which node, and how it ended where that is known.
 */
export class NodeConnectionFailedError extends TroupeError {
  static override readonly code = 'TROUPE_NODE_CONNECTION_FAILED';
  constructor(
    readonly nodeId: string,
    readonly pid: number | undefined,
    readonly exit: NodeExit | undefined,
    readonly stderrTail: string,
    options?: { cause?: unknown; location?: string },
  ) {
    const who = describeNode(nodeId, pid, options?.location);
    const how = exit ? (exit.signal ? `, killed by ${exit.signal}` : `, exited with code ${exit.code}`) : '';
    const cause = options?.cause instanceof Error ? `: ${options.cause.message}` : '';
    const tail = stderrTail.trim() ? `\n--- stderr (tail) ---\n${stderrTail.trimEnd()}` : '';
    super(`connection to ${who} failed${how}${cause}${tail}`, options);
  }
}

/**
 * A node that holds requests stopped answering pings for longer than the bound
 * (`nodes.pingTimeoutMs`): it is stopped (SIGSTOP), wedged, or busy in one synchronous stretch
 * longer than the bound. The host declared it lost and killed it; the requests it held fail with
 * this error.
 */
export class NodeUnresponsiveError extends TroupeError {
  static override readonly code = 'TROUPE_NODE_UNRESPONSIVE';
  constructor(
    readonly nodeId: string,
    readonly pid: number | undefined,
    /** How long the node had not answered when it was declared lost. */
    readonly silentMs: number,
    /** Where it ran (`NodeContext.location`); a node across a network is watched by heartbeats. */
    readonly location?: string,
  ) {
    const who = describeNode(nodeId, pid, location);
    super(
      location !== undefined && location !== 'local'
        ? `${who} did not answer heartbeats for ${Math.round(silentMs)} ms; it was declared lost ` +
            '(its machine or the network went away, or it stopped), and its connection closed'
        : `${who} did not answer pings for ${Math.round(silentMs)} ms while it held requests; ` +
            'it was declared lost and killed (a task that runs synchronously for longer than ' +
            'nodes.pingTimeoutMs must be split up, or the bound raised)',
    );
  }
}

export class NodeLaunchError extends TroupeError {
  static override readonly code = 'TROUPE_NODE_LAUNCH_FAILED';
  constructor(
    message: string,
    readonly attempts: number,
    readonly exit: NodeExit | undefined,
    readonly stderrTail: string,
    options?: { cause?: unknown },
  ) {
    const tail = stderrTail.trim() ? `\n--- stderr (tail) ---\n${stderrTail.trimEnd()}` : '';
    super(`${message}${tail}`, options);
  }
}

/**
 * A remote node could not be started or reached: names the node, where it was to run (the
 * launcher prefix, or the endpoint) and why (the launcher exited, no listening line in time, a
 * wrong secret, a version mismatch naming both versions, the node serving another host).
 */
export class RemoteNodeError extends TroupeError {
  static override readonly code = 'TROUPE_REMOTE_NODE_FAILED';
  constructor(
    readonly nodeId: string,
    readonly location: string,
    reason: string,
    readonly stderrTail = '',
    options?: { cause?: unknown },
  ) {
    const tail = stderrTail.trim() ? `\n--- stderr (tail) ---\n${stderrTail.trimEnd()}` : '';
    super(`remote node ${nodeId} (${location}): ${reason}${tail}`, options);
  }
}

/** The node is shutting down or gone; nothing more can be sent to it. */
export class NodeClosedError extends TroupeError {
  static override readonly code = 'TROUPE_NODE_CLOSED';
  constructor(
    readonly nodeId: string,
    detail: string,
  ) {
    super(`node ${nodeId} is closed: ${detail}`);
  }
}

/**
 * A task failed on its node; `remoteStack` is the stack as the node saw it, and `chain`, when its
 * task failed because a request it waited on did, the requests down to the root cause.
 */
export class TaskFailedError extends TroupeError {
  static override readonly code = 'TROUPE_TASK_FAILED';
  constructor(
    readonly task: string,
    readonly nodeId: string,
    message: string,
    readonly remoteCode: string | undefined,
    readonly remoteStack: string | undefined,
    readonly chain?: readonly string[],
  ) {
    super(`task ${task} failed on node ${nodeId}: ${message}`);
  }
}

export class RequestCancelledError extends TroupeError {
  static override readonly code = 'TROUPE_REQUEST_CANCELLED';
}

/**
 * A request's run held its node for longer than its `timeoutMs` (active time: its blocked and
 * yielded stretches do not count). It failed with this error and was cancelled on its node; a node
 * that does not end the run within `nodes.cancelGraceMs` is killed (`NodeAbandonedError`).
 */
export class RequestTimeoutError extends TroupeError {
  static override readonly code = 'TROUPE_REQUEST_TIMEOUT';
  constructor(
    readonly requestId: string,
    readonly task: string,
    readonly nodeId: string,
    readonly timeoutMs: number,
  ) {
    super(
      `request ${requestId} (${task}) ran for ${timeoutMs} ms on node ${nodeId}, its timeoutMs; it was cancelled there`,
    );
  }
}

/**
 * A pool lost more nodes than its restart budget allows (`nodes.restarts`): it starts no more. The
 * requests that wait for its nodes fail with this error once none is left; `cause` is how the
 * last one was lost.
 */
export class RestartBudgetError extends TroupeError {
  static override readonly code = 'TROUPE_RESTART_BUDGET';
  constructor(
    readonly pool: string,
    readonly lost: number,
    readonly budget: { readonly max: number; readonly periodMs: number },
    cause: Error,
  ) {
    super(
      `pool ${pool} lost ${lost} nodes within ${budget.periodMs} ms, more than its restart budget ` +
        `(nodes.restarts: ${budget.max} in ${budget.periodMs} ms): it starts no more nodes. ` +
        `The last was lost because: ${cause.message.split('\n')[0]}`,
      { cause },
    );
  }
}

/**
 * The host gave up on a node: it did not end a request it was told to cancel after the request's
 * timeout within `nodes.cancelGraceMs`. It was killed (and is replaced as the pool needs); the
 * other requests it held fail with this error, or run again if they may (`retry`).
 */
export class NodeAbandonedError extends TroupeError {
  static override readonly code = 'TROUPE_NODE_ABANDONED';
  constructor(
    readonly nodeId: string,
    readonly pid: number | undefined,
    readonly requestId: string,
    readonly graceMs: number,
  ) {
    const who = pid === undefined ? `node ${nodeId}` : `node ${nodeId} (pid ${pid})`;
    super(
      `${who} did not end request ${requestId} within ${graceMs} ms of its cancel, after the request's timeout; it was killed`,
    );
  }
}

/** Requests that wait on themselves, through any chain. Every request in the cycle fails with it. */
export class RequestCycleError extends TroupeError {
  static override readonly code = 'TROUPE_REQUEST_CYCLE';
  constructor(readonly cycle: readonly string[]) {
    super(`requests wait on each other in a cycle: ${cycle.join(' → ')}`);
  }
}

export interface StallHolder {
  request: string;
  task: string;
  node: string;
  heldMs: number;
}

/** What a run that stopped moving waits for (scheduler/wait-for.ts). */
export interface WaitFor {
  /**
   * A cycle of waits, each waiting for the next and the last for the first (`a (task)`,
   * `node-1`, ...), the first repeated at the end; undefined when there is none.
   */
  readonly cycle: readonly string[] | undefined;
  /**
   * Every wait reachable from the unfinished requests, one line each, each request, node and pool
   * described once, in the order a reader follows them: from the requests nothing waits on down
   * to what holds them.
   */
  readonly waits: readonly string[];
}

/** A wait-for graph as lines for an error or a report: its cycle first, then at most `max` waits. */
function describeWaitFor(graph: WaitFor, max = 20): string {
  const lines: string[] = [];
  if (graph.cycle) lines.push(`wait-for cycle: ${graph.cycle.join(' → ')}`);
  if (graph.waits.length > 0) {
    lines.push('what waits for what:');
    for (const line of graph.waits.slice(0, max)) lines.push(`  ${line}`);
    if (graph.waits.length > max) lines.push(`  … and ${graph.waits.length - max} more`);
  }
  return lines.join('\n');
}

/**
 * Every node is held by a request that neither finished nor yielded, work is waiting, and nothing
 * moved for too long: the pool deadlocked on its own waits. `waitFor` follows each wait from the
 * requests nothing waits on down to the holders (and names the cycle, if the waits close one).
 */
export class StallError extends TroupeError {
  static override readonly code = 'TROUPE_STALL';
  constructor(
    readonly holders: readonly StallHolder[],
    readonly waiting: number,
    readonly waitFor?: WaitFor,
  ) {
    const lines = holders.map(
      (h) => `  ${h.request} (${h.task}) on ${h.node}, for ${Math.round(h.heldMs)} ms`,
    );
    const waits = waitFor ? `${describeWaitFor(waitFor)}\n` : '';
    super(
      `no progress: all ${holders.length} nodes are held by requests that neither finished nor yielded, ` +
        `while ${waiting} request(s) wait for a node:\n${lines.join('\n')}\n${waits}` +
        'A task that waits on work outside itself should yield its node: ' +
        'wrap the wait in ctx.yielding(() => ...) or use ctx.build(...) for other requests.',
    );
  }
}

/** A request this one waited on failed; `chain` lists the requests from this one down to the root cause. */
export class DependencyFailedError extends TroupeError {
  static override readonly code = 'TROUPE_DEPENDENCY_FAILED';
  constructor(
    readonly request: string,
    readonly chain: readonly string[],
    cause: Error,
  ) {
    super(`${request} failed because ${chain.join(' ← ')} failed: ${cause.message}`, { cause });
  }
}

/**
 * yield/reacquire used out of order, e.g. reacquire without yield; or `ctx.build` / `ctx.yield`
 * in a task run alone by `NodeContext.request`, where no scheduler answers them.
 */
export class YieldMisuseError extends TroupeError {
  static override readonly code = 'TROUPE_YIELD_MISUSE';
}

/**
 * A node was asked to run something that is not a task (or, for a job, not a job): a Node.js
 * built-in, a module outside the file system, or an export not made with `defineTask` /
 * `defineJob`. It ran nothing; the host sees a `TaskFailedError` with this code.
 */
export class TaskRefusedError extends TroupeError {
  static override readonly code = 'TROUPE_TASK_REFUSED';
  constructor(
    /** The task or job id as the request named it. */
    readonly task: string,
    readonly kind: 'task' | 'job',
    readonly reason: string,
  ) {
    super(`refused to run ${kind} ${task}: ${reason}`);
  }
}

/** The module a task or job id names loads, but has no such export. */
export class TaskNotFoundError extends TroupeError {
  static override readonly code = 'TROUPE_TASK_NOT_FOUND';
  constructor(
    readonly task: string,
    readonly kind: 'task' | 'job',
    readonly specifier: string,
    readonly exportName: string,
  ) {
    super(
      `${kind} ${task} not found: ${specifier} has no ${kind} export named ${JSON.stringify(exportName)}`,
    );
  }
}

/** Why a job is asked to stop: the kind travels in the cancel message, the text says more. */
export type JobCancelKind = 'CancelRequest' | 'RuntimeShutdown' | 'OperatingSystemShutdown';

/** The reason on a job's `ctx.signal` when its host asks it to stop. */
export class JobCancelledError extends TroupeError {
  static override readonly code = 'TROUPE_JOB_CANCELLED';
  constructor(
    readonly kind: JobCancelKind,
    message: string,
  ) {
    super(message);
  }
}

/** A job's lease could not be renewed: the source refused or could not be reached. */
export class LeaseRenewalError extends TroupeError {
  static override readonly code: string = 'TROUPE_LEASE_RENEWAL_FAILED';
}

/**
 * The job's lease now belongs to another take (it ran out and the job was taken again, with a
 * newer fencing token), or the job is no longer leased at all. Final: a renewal refused with it is
 * not retried, so the job ends there (Abandoned, its worker stopped), and a completion refused with
 * it wrote nothing (the job's one result is its new holder's).
 */
export class LeaseLostError extends LeaseRenewalError {
  static override readonly code = 'TROUPE_LEASE_LOST';
  constructor(
    readonly jobId: string,
    detail: string,
  ) {
    super(`the lease of job ${jobId} is lost: ${detail}`);
  }
}

/** A job source was asked to complete a job it already has a result for. */
export class JobAlreadyCompletedError extends TroupeError {
  static override readonly code = 'TROUPE_JOB_ALREADY_COMPLETED';
  constructor(readonly jobId: string) {
    super(`job ${jobId} already has a result`);
  }
}

/**
 * A job's worker exited with a code outside the result table (a crash, a kill): its captured
 * output is attached.
 */
export class JobWorkerCrashedError extends TroupeError {
  static override readonly code = 'TROUPE_JOB_WORKER_CRASHED';
  constructor(
    readonly jobId: string,
    readonly pid: number | undefined,
    readonly exit: NodeExit,
    readonly output: string,
  ) {
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
    const tail = output.trim() ? `\n--- worker output (tail) ---\n${output.trimEnd()}` : '';
    super(`the worker of job ${jobId}${pid === undefined ? '' : ` (pid ${pid})`} ${how}${tail}`);
  }
}

/** `MemoryJobServer.add` after `close()`: the server takes no more jobs. */
export class JobServerClosedError extends TroupeError {
  static override readonly code = 'TROUPE_JOB_SERVER_CLOSED';
  constructor(readonly job: string) {
    super(`the job server is closed to new jobs; ${job} was not added`);
  }
}

/** A job id given twice to one job server. */
export class DuplicateJobError extends TroupeError {
  static override readonly code = 'TROUPE_JOB_EXISTS';
  constructor(readonly jobId: string) {
    super(`job ${jobId} already exists`);
  }
}

/** A job id the job server has never had (a renewal or result for it is someone's mistake). */
export class UnknownJobError extends TroupeError {
  static override readonly code = 'TROUPE_UNKNOWN_JOB';
  constructor(readonly jobId: string) {
    super(`job ${jobId} does not exist`);
  }
}
