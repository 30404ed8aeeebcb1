// The public door of @troupe/core, name by name: a new public name is a decision taken here, not
// a side effect of an export added for a sibling package or a test (those go to './internal').
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';

const values = [
  'DependencyFailedError',
  'DuplicateJobError',
  'InProcessNodeProvider',
  'InvalidOptionError',
  'JOB_EXIT_CODES',
  'JobAlreadyCompletedError',
  'JobCancelledError',
  'JobDispatcher',
  'JobResult',
  'JobServerClosedError',
  'JobWorkerCrashedError',
  'LeaseRenewalError',
  'MalformedPacketError',
  'MemoryJobServer',
  'NodeClosedError',
  'NodeConnectionFailedError',
  'NodeContext',
  'NodeLaunchError',
  'NodeUnresponsiveError',
  'ProcessJobWorkers',
  'ProcessNodeProvider',
  'RequestCancelledError',
  'RequestCycleError',
  'Runtime',
  'StallError',
  'TaskFailedError',
  'TaskModuleError',
  'TaskNotFoundError',
  'TaskRefusedError',
  'ThreadNodeProvider',
  'TroupeError',
  'UnknownJobError',
  'UnknownPacketError',
  'YieldMisuseError',
  'createRuntime',
  'criticalPathFirst',
  'defineJob',
  'defineTask',
  'firstInFirstOut',
  'listNodes',
  'shutdownAll',
  'systemClock',
  'systemRandom',
];

/** Types vanish at run time, so they are read from the index's source. */
const types = [
  'AcquireOptions',
  'Clock',
  'InProcessNodeProviderOptions',
  'Job',
  'JobCancelKind',
  'JobCompletedEvent',
  'JobCompletion',
  'JobContext',
  'JobDefinition',
  'JobDispatcherEvents',
  'JobDispatcherOptions',
  'JobFunction',
  'JobRequest',
  'JobSource',
  'JobStartedEvent',
  'Lease',
  'LeaseOptions',
  'ListedNode',
  'MemoryJob',
  'MemoryJobServerOptions',
  'MemoryJobStatus',
  'NodeContextEvents',
  'NodeExit',
  'NodeKind',
  'NodeProvider',
  'NodeWarning',
  'PacketBodies',
  'ProcessJobWorkersOptions',
  'ProcessNodeProviderEvents',
  'ProcessNodeProviderOptions',
  'RandomSource',
  'ReleaseOptions',
  'RequestLike',
  'RequestSpec',
  'RequestState',
  'RuntimeEvents',
  'RuntimeOptions',
  'ScheduledRequest',
  'SchedulingPolicy',
  'ShutdownAllOptions',
  'ShutdownAllResult',
  'ShutdownTimeouts',
  'StallHolder',
  'StallReport',
  'Task',
  'TaskContext',
  'TaskDefinition',
  'TaskFunction',
  'ThreadNodeProviderOptions',
  'TimerId',
];

/** The names of the index's `export { ... } from` lines, split into values and types. */
async function indexNames(): Promise<{ values: string[]; types: string[] }> {
  const source = await readFile(new URL('../src/index.ts', import.meta.url), 'utf8');
  // `export *` would hide its names from this list.
  expect(source).not.toMatch(/export\s+(type\s+)?\*/);
  const names = { values: [] as string[], types: [] as string[] };
  for (const [, allTypes, list = ''] of source.matchAll(/export\s+(type\s+)?\{([^}]*)\}/g))
    for (const item of list
      .split(',')
      .map((part) => part.trim())
      .filter(Boolean)) {
      const name =
        item
          .replace(/^type\s+/, '')
          .split(/\s+as\s+/)
          .at(-1) ?? item;
      (allTypes || item.startsWith('type ') ? names.types : names.values).push(name);
    }
  return { values: names.values.sort(), types: names.types.sort() };
}

describe('the public index of @troupe/core', () => {
  it('exports exactly these values at run time', async () => {
    expect(Object.keys(await import('@troupe/core')).sort()).toEqual(values);
  });

  it('declares exactly these names, values and types', async () => {
    expect(await indexNames()).toEqual({ values, types });
  });

  it('keeps what it exports out of the internal door', async () => {
    const internal = Object.keys(await import('@troupe/core/internal'));
    expect(internal.filter((name) => values.includes(name))).toEqual([]);
  });
});
