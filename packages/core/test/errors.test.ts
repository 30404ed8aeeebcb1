// Every error class of @troupe/core: a stable code users can match on, its own name, instanceof its
// class and parents (across copies of the library too, by brand), and a message that names what it
// is about. A new error class without a row here fails the last test.
import * as core from '@troupe/core';
import {
  DependencyFailedError,
  DuplicateJobError,
  JobAlreadyCompletedError,
  JobCancelledError,
  JobServerClosedError,
  JobWorkerCrashedError,
  LeaseLostError,
  LeaseRenewalError,
  MalformedPacketError,
  NodeAbandonedError,
  NodeClosedError,
  NodeConnectionFailedError,
  NodeLaunchError,
  NodeUnresponsiveError,
  RemoteNodeError,
  RequestCancelledError,
  RequestCycleError,
  RequestTimeoutError,
  RestartBudgetError,
  StallError,
  TaskFailedError,
  TaskModuleError,
  TaskNotFoundError,
  TaskRefusedError,
  TroupeError,
  UnknownJobError,
  UnknownPacketError,
  YieldMisuseError,
} from '@troupe/core';
import { ProtocolError } from '@troupe/transport';
import { describe, expect, it } from 'vitest';

type Class = abstract new (...args: never[]) => unknown;

const table: Array<[string, TroupeError, Class[], string]> = [
  ['TROUPE_TASK_MODULE', new TaskModuleError('./t.mjs#x', 'a relative path'), [TaskModuleError], './t.mjs#x'],
  ['TROUPE_UNKNOWN_PACKET', new UnknownPacketError(200), [UnknownPacketError, ProtocolError], '200'],
  [
    'TROUPE_MALFORMED_PACKET',
    new MalformedPacketError('BuildResult', 'id is not a string'),
    [MalformedPacketError, ProtocolError],
    'BuildResult',
  ],
  [
    'TROUPE_NODE_CONNECTION_FAILED',
    new NodeConnectionFailedError('node-1', 42, { code: 1, signal: null }, 'boom', new Error('gone')),
    [NodeConnectionFailedError],
    'pid 42',
  ],
  [
    'TROUPE_NODE_UNRESPONSIVE',
    new NodeUnresponsiveError('node-1', 42, 10_000),
    [NodeUnresponsiveError],
    'node-1',
  ],
  [
    'TROUPE_NODE_LAUNCH_FAILED',
    new NodeLaunchError('could not start', 3, undefined, ''),
    [NodeLaunchError],
    'start',
  ],
  [
    'TROUPE_REMOTE_NODE_FAILED',
    new RemoteNodeError('node-1', 'ssh build-02 --', 'no listening line within 30000 ms'),
    [RemoteNodeError],
    'ssh build-02 --',
  ],
  ['TROUPE_NODE_CLOSED', new NodeClosedError('node-1', 'shut down'), [NodeClosedError], 'node-1'],
  [
    'TROUPE_TASK_FAILED',
    new TaskFailedError('m#t', 'node-1', 'bad input', undefined, undefined),
    [TaskFailedError],
    'm#t',
  ],
  [
    'TROUPE_REQUEST_CANCELLED',
    new RequestCancelledError('request r1 was cancelled'),
    [RequestCancelledError],
    'r1',
  ],
  ['TROUPE_REQUEST_CYCLE', new RequestCycleError(['a', 'b', 'a']), [RequestCycleError], 'a → b → a'],
  [
    'TROUPE_REQUEST_TIMEOUT',
    new RequestTimeoutError('r1', 'm#t', 'node-1', 5_000),
    [RequestTimeoutError],
    'ran for 5000 ms on node node-1',
  ],
  [
    'TROUPE_RESTART_BUDGET',
    new RestartBudgetError('default', 11, { max: 10, periodMs: 60_000 }, new Error('killed by SIGKILL')),
    [RestartBudgetError],
    'The last was lost because: killed by SIGKILL',
  ],
  [
    'TROUPE_NODE_ABANDONED',
    new NodeAbandonedError('node-1', 42, 'r1', 5_000),
    [NodeAbandonedError],
    'node node-1 (pid 42) did not end request r1',
  ],
  [
    'TROUPE_STALL',
    new StallError([{ request: 'r1', task: 'm#t', node: 'node-1', heldMs: 5_000 }], 3),
    [StallError],
    'r1',
  ],
  [
    'TROUPE_DEPENDENCY_FAILED',
    new DependencyFailedError('r2', ['r1'], new Error('root')),
    [DependencyFailedError],
    'r2',
  ],
  ['TROUPE_YIELD_MISUSE', new YieldMisuseError('reacquire without yield'), [YieldMisuseError], 'reacquire'],
  [
    'TROUPE_TASK_REFUSED',
    new TaskRefusedError('node:fs#x', 'task', 'a built-in'),
    [TaskRefusedError],
    'node:fs#x',
  ],
  [
    'TROUPE_TASK_NOT_FOUND',
    new TaskNotFoundError('file:///t.mjs#x', 'task', 'file:///t.mjs', 'x'),
    [TaskNotFoundError],
    'file:///t.mjs',
  ],
  ['TROUPE_JOB_CANCELLED', new JobCancelledError('CancelRequest', 'stop'), [JobCancelledError], 'stop'],
  ['TROUPE_LEASE_RENEWAL_FAILED', new LeaseRenewalError('job j1 does not exist'), [LeaseRenewalError], 'j1'],
  [
    'TROUPE_LEASE_LOST',
    new LeaseLostError('j1', 'it was taken again (token 3, now 4)'),
    [LeaseLostError, LeaseRenewalError],
    'j1',
  ],
  ['TROUPE_JOB_ALREADY_COMPLETED', new JobAlreadyCompletedError('j1'), [JobAlreadyCompletedError], 'j1'],
  [
    'TROUPE_JOB_WORKER_CRASHED',
    new JobWorkerCrashedError('j1', 42, { code: 3, signal: null }, 'fatal'),
    [JobWorkerCrashedError],
    'j1',
  ],
  ['TROUPE_JOB_SERVER_CLOSED', new JobServerClosedError('m#deploy'), [JobServerClosedError], 'closed'],
  ['TROUPE_JOB_EXISTS', new DuplicateJobError('j1'), [DuplicateJobError], 'j1'],
  ['TROUPE_UNKNOWN_JOB', new UnknownJobError('j1'), [UnknownJobError], 'j1'],
];

describe('errors of @troupe/core', () => {
  it.each(table)('%s: stable code, name, instanceof its class and parents', (code, error, classes, names) => {
    expect(error.code).toBe(code);
    expect(error.name).toBe(error.constructor.name);
    expect(error).toBeInstanceOf(Error);
    expect(error).toBeInstanceOf(TroupeError);
    for (const cls of classes) expect(error).toBeInstanceOf(cls);
    expect(error.message).toContain(names);
  });

  it('instanceof works across copies of the library, by brand', () => {
    const foreign = Object.defineProperty(new Error('from another copy'), Symbol.for('troupe.error.codes'), {
      value: ['TROUPE_TASK_FAILED', 'TROUPE_ERROR'],
    });
    expect(foreign).toBeInstanceOf(TaskFailedError);
    expect(foreign).not.toBeInstanceOf(StallError);
  });

  it('every error class the package exports has a row', () => {
    const exported = Object.entries(core)
      .filter(([, value]) => typeof value === 'function' && value.prototype instanceof Error)
      .map(([name]) => name)
      .filter((name) => name !== 'TroupeError' && name !== 'InvalidOptionError');
    const covered = new Set(table.map(([, error]) => error.constructor.name));
    expect(exported.filter((name) => !covered.has(name))).toEqual([]);
  });
});
