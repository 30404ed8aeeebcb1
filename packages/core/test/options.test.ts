// Every option of createRuntime, the node providers and JobDispatcher is checked when they are
// made: a wrong value or a key that is no option is an InvalidOptionError naming the option's
// path and what was received, where it used to run in-process without a word or hang.
import {
  createRuntime,
  InProcessNodeProvider,
  InvalidOptionError,
  JobDispatcher,
  MemoryJobServer,
  ProcessNodeProvider,
  type RuntimeOptions,
  ThreadNodeProvider,
} from '@troupe/core';
import { describe, expect, it } from 'vitest';

interface Case {
  /** What is wrong. */
  what: string;
  make: () => unknown;
  /** The option path the error names. */
  option: string;
  /** Text the message must contain (the value as received, a hint). */
  says: string[];
}

const runtime = (options: unknown) => () => createRuntime(options as RuntimeOptions);

const cases: Case[] = [
  // createRuntime
  {
    what: 'an unknown kind',
    make: runtime({ nodes: { kind: 'bogus' } }),
    option: 'nodes.kind',
    says: ['"bogus"', "'process'"],
  },
  {
    what: 'a misspelt kind',
    make: runtime({ nodes: { kind: 'processes' } }),
    option: 'nodes.kind',
    says: ['"processes"', "did you mean 'process'"],
  },
  {
    what: 'nodes as a number',
    make: runtime({ nodes: 4 }),
    option: 'nodes',
    says: ['an object', 'received 4'],
  },
  {
    what: 'max 0',
    make: runtime({ nodes: { max: 0 } }),
    option: 'nodes.max',
    says: ['positive integer', 'received 0'],
  },
  { what: 'max -1', make: runtime({ nodes: { max: -1 } }), option: 'nodes.max', says: ['received -1'] },
  { what: "max '2'", make: runtime({ nodes: { max: '2' } }), option: 'nodes.max', says: ['received "2"'] },
  { what: 'max 1.5', make: runtime({ nodes: { max: 1.5 } }), option: 'nodes.max', says: ['received 1.5'] },
  {
    what: 'max NaN',
    make: runtime({ nodes: { max: Number.NaN } }),
    option: 'nodes.max',
    says: ['received NaN'],
  },
  {
    what: 'a misspelt top-level key',
    make: runtime({ node: { kind: 'thread' } }),
    option: 'node',
    says: ['unknown option node', 'did you mean nodes?'],
  },
  {
    what: 'a misspelt key in nodes',
    make: runtime({ nodes: { knd: 'thread' } }),
    option: 'nodes.knd',
    says: ['unknown option nodes.knd', 'did you mean kind?'],
  },
  {
    what: 'taskHosts 0',
    make: runtime({ nodes: { kind: 'multi-threaded', taskHosts: 0 } }),
    option: 'nodes.taskHosts',
    says: ['received 0'],
  },
  {
    what: 'taskHosts on thread nodes, where it does nothing',
    make: runtime({ nodes: { kind: 'thread', taskHosts: 2 } }),
    option: 'nodes.taskHosts',
    says: ["kind is 'thread'"],
  },
  {
    what: 'prefetch -1',
    make: runtime({ nodes: { prefetch: -1 } }),
    option: 'nodes.prefetch',
    says: ['non-negative integer'],
  },
  {
    what: "prefetch '4'",
    make: runtime({ nodes: { prefetch: '4' } }),
    option: 'nodes.prefetch',
    says: ['received "4"', "or 'auto'"],
  },
  {
    what: 'reuse as a string',
    make: runtime({ nodes: { kind: 'process', reuse: 'yes' } }),
    option: 'nodes.reuse',
    says: ['true or false'],
  },
  {
    what: 'reuse on thread nodes, where it does nothing',
    make: runtime({ nodes: { kind: 'thread', reuse: true } }),
    option: 'nodes.reuse',
    says: ["kind is 'thread'"],
  },
  {
    what: 'process options on in-process nodes',
    make: runtime({ nodes: { process: { idleTimeoutMs: 1000 } } }),
    option: 'nodes.process',
    says: ["kind is 'inproc'"],
  },
  {
    what: 'a bad process option',
    make: runtime({ nodes: { kind: 'process', process: { idleTimeoutMs: -5 } } }),
    option: 'nodes.process.idleTimeoutMs',
    says: ['received -5'],
  },
  {
    what: 'reuse given among the process options',
    make: runtime({ nodes: { kind: 'process', process: { reuse: true } } }),
    option: 'nodes.process.reuse',
    says: ['unknown option nodes.process.reuse'],
  },
  {
    what: 'a nested shutdown timeout',
    make: runtime({ nodes: { kind: 'process', process: { shutdown: { exitPollStartMs: 0 } } } }),
    option: 'nodes.process.shutdown.exitPollStartMs',
    says: ['from 1 to'],
  },
  {
    what: 'a provider that is none',
    make: runtime({ nodes: { provider: {} } }),
    option: 'nodes.provider',
    says: ['acquire()', 'received {}'],
  },
  {
    what: 'a kind beside a provider',
    make: runtime({ nodes: { kind: 'thread', provider: new InProcessNodeProvider() } }),
    option: 'nodes.kind',
    says: ['nodes.provider'],
  },
  {
    what: 'a policy that is a name',
    make: runtime({ policy: 'fifo' }),
    option: 'policy',
    says: ['compare()', '"fifo"'],
  },
  {
    what: 'stallTimeoutMs 0',
    make: runtime({ stallTimeoutMs: 0 }),
    option: 'stallTimeoutMs',
    says: ['received 0'],
  },
  {
    what: 'stallTimeoutMs Infinity (a timer would fire at once)',
    make: runtime({ stallTimeoutMs: Number.POSITIVE_INFINITY }),
    option: 'stallTimeoutMs',
    says: ['2147483647', 'received Infinity'],
  },
  {
    what: 'stallErrorMs as text',
    make: runtime({ stallErrorMs: '10s' }),
    option: 'stallErrorMs',
    says: ['"10s"'],
  },
  {
    what: 'a clock that is none',
    make: runtime({ clock: Date }),
    option: 'clock',
    says: ['now()', 'a function (Date)'],
  },
  { what: 'a random source that is none', make: runtime({ random: Math }), option: 'random', says: ['id()'] },
  {
    what: 'options that are null',
    make: runtime(null),
    option: 'options',
    says: ['an object', 'received null'],
  },

  // ProcessNodeProvider
  {
    what: 'launchAttempts 0',
    make: () => new ProcessNodeProvider({ launchAttempts: 0 }),
    option: 'launchAttempts',
    says: ['positive integer'],
  },
  {
    what: 'connectTimeoutMs as text',
    make: () => new ProcessNodeProvider({ connectTimeoutMs: 'fast' as unknown as number }),
    option: 'connectTimeoutMs',
    says: ['"fast"'],
  },
  {
    what: 'a nodeCommand without args',
    make: () => new ProcessNodeProvider({ nodeCommand: { command: 'node' } as never }),
    option: 'nodeCommand.args',
    says: ['received undefined'],
  },
  {
    what: 'a nodeCommand arg that is no string',
    make: () => new ProcessNodeProvider({ nodeCommand: { command: 'node', args: ['a', 2 as never] } }),
    option: 'nodeCommand.args[1]',
    says: ['a string'],
  },
  {
    what: 'an env value that is no string',
    make: () => new ProcessNodeProvider({ env: { DEBUG: 1 as never } }),
    option: 'env.DEBUG',
    says: ['received 1'],
  },
  {
    what: 'a misspelt provider option',
    make: () => new ProcessNodeProvider({ idelTimeoutMs: 5 } as never),
    option: 'idelTimeoutMs',
    says: ['did you mean idleTimeoutMs?'],
  },
  {
    what: 'a runtime version that is no version',
    make: () => new ProcessNodeProvider({ runtimeVersion: 'latest' }),
    option: 'runtimeVersion',
    says: ['major.minor.patch'],
  },

  // ThreadNodeProvider, InProcessNodeProvider
  {
    what: 'a negative thread exit timeout',
    make: () => new ThreadNodeProvider({ exitTimeoutMs: -1 }),
    option: 'exitTimeoutMs',
    says: ['received -1'],
  },
  {
    what: 'a misspelt handshake option',
    make: () => new ThreadNodeProvider({ handshake: { sesion: 'a' } as never }),
    option: 'handshake.sesion',
    says: ['did you mean session?'],
  },
  {
    what: 'a protocol version out of range',
    make: () => new InProcessNodeProvider({ handshake: { protocolVersion: 70_000 } }),
    option: 'handshake.protocolVersion',
    says: ['from 0 to 65535'],
  },
  {
    what: 'a transport that is none',
    make: () => new InProcessNodeProvider({ transport: {} as never }),
    option: 'transport',
    says: ['connect()'],
  },

  // JobDispatcher
  { what: 'no source', make: () => new JobDispatcher({} as never), option: 'source', says: ['a JobSource'] },
  {
    what: 'slots 0',
    make: () => new JobDispatcher({ source: new MemoryJobServer(), slots: 0 }),
    option: 'slots',
    says: ['positive integer'],
  },
  {
    what: 'a lease renewal interval of 0',
    make: () => new JobDispatcher({ source: new MemoryJobServer(), lease: { renewIntervalMs: 0 } }),
    option: 'lease.renewIntervalMs',
    says: ['received 0'],
  },
  {
    what: 'a misspelt lease option',
    make: () => new JobDispatcher({ source: new MemoryJobServer(), lease: { renewMs: 5 } as never }),
    option: 'lease.renewMs',
    says: ['unknown option lease.renewMs'],
  },
  {
    what: 'cancelTimeoutMs NaN',
    make: () => new JobDispatcher({ source: new MemoryJobServer(), cancelTimeoutMs: Number.NaN }),
    option: 'cancelTimeoutMs',
    says: ['received NaN'],
  },
  {
    what: 'workers that are none',
    make: () => new JobDispatcher({ source: new MemoryJobServer(), workers: 4 as never }),
    option: 'workers',
    says: ['start()'],
  },
];

describe('options are checked when a runtime, provider or dispatcher is made', () => {
  it.each(cases)('refuses $what, naming $option', ({ make, option, says }) => {
    let error: unknown;
    try {
      make();
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as InvalidOptionError).code).toBe('TROUPE_INVALID_OPTION');
    expect((error as InvalidOptionError).option).toBe(option);
    for (const text of says) expect((error as Error).message).toContain(text);
  });

  it('accepts every option it documents, set to a valid value', async () => {
    const made = createRuntime({
      nodes: {
        kind: 'multi-threaded',
        taskHosts: 2,
        max: 3,
        prefetch: 'auto',
        process: {
          lowPriority: true,
          session: 's',
          idleTimeoutMs: 1_000,
          connectTimeoutMs: 1_000,
          launchAttempts: 2,
          shutdown: {
            drainTimeoutMs: 0,
            exitPollStartMs: 1,
            exitPollMaxMs: 10,
            exitTimeoutMs: 0,
            killTimeoutMs: 0,
          },
          env: { PATH: process.env.PATH, UNSET: undefined },
          nodeCommand: { command: process.execPath, args: [] },
        },
      },
      stallTimeoutMs: 1_000,
      stallErrorMs: 0,
      // Undefined is the same as leaving an option out.
      policy: undefined,
    });
    expect([...made.providers.keys()]).toEqual(['thread', 'task-host']);
    await made.shutdown();
    const dispatcher = new JobDispatcher({
      source: new MemoryJobServer(),
      slots: 2,
      lease: { renewIntervalMs: 5, retryStartMs: 1, retryMaxMs: 5, firstRenewalAttempts: 1 },
    });
    expect(dispatcher.states).toEqual(['idle', 'idle']);
  });
});
