import { InvalidOptionError } from './errors.js';
import type { JobDispatcherOptions, LeaseOptions } from './jobs/dispatcher.js';
import type { InProcessNodeProviderOptions } from './nodes/inproc.js';
import type { ProcessNodeProviderOptions, ShutdownTimeouts } from './nodes/process.js';
import type { ThreadNodeProviderOptions } from './nodes/thread.js';
import type { RuntimeOptions } from './runtime.js';

/**
 * Options are checked once, when the thing they configure is made: a wrong value (`max: '2'`,
 * `kind: 'processes'`) or a key that is no option (`node:` for `nodes:`) is an
 * `InvalidOptionError` naming the option's path and the value, never a silent default or a hang.
 *
 * Each shape has a rule for every key of its options type (the mapped types below make the
 * compiler insist), so an option added to an interface cannot be forgotten here.
 */
type Rule = (value: unknown, path: string) => void;
type Shape<T> = { readonly [K in keyof Required<T>]: Rule };

/** Timers hold at most a signed 32-bit count of milliseconds; Node fires a longer one at once. */
const MAX_TIMER_MS = 2_147_483_647;

/** What was received, readably: the transport error's own rendering shows objects as `[object Object]`. */
function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return value.name ? `a function (${value.name})` : 'a function';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object' && value !== null) {
    const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
    if (typeof name === 'string' && name !== 'Object') return `a ${name}`;
    try {
      const json = JSON.stringify(value);
      return json.length > 80 ? `${json.slice(0, 77)}...` : json;
    } catch {
      return 'an object';
    }
  }
  return String(value);
}

function invalid(path: string, accepted: string, value: unknown): InvalidOptionError {
  const error = new InvalidOptionError(path, accepted, value);
  error.message = `option ${path} must be ${accepted}; received ${describeValue(value)}`;
  return error;
}

/** A key that is no option: refused, since a typo (`node:` for `nodes:`) would otherwise do nothing. */
function unknown(path: string, known: readonly string[], value: unknown, guess: string | undefined) {
  const error = new InvalidOptionError(path, 'left out', value);
  const hint = guess === undefined ? '' : ` (did you mean ${guess}?)`;
  const there = known.length > 0 ? `the options there are ${known.join(', ')}` : 'nothing is accepted there';
  error.message = `unknown option ${path}${hint}; ${there}`;
  return error;
}

/** The closest of `candidates` to a misspelt `word`, if one is close enough to be a likely typo. */
function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        previous[j]! + 1,
        row[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = row;
  }
  return previous[b.length]!;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const join = (path: string, key: string) => (path ? `${path}.${key}` : key);

/** Checks `value` against `shape`: every key must be an option, every option that is set must pass its rule. */
function checkShape(value: unknown, shape: Readonly<Record<string, Rule>>, path: string): void {
  if (!isRecord(value)) throw invalid(path || 'options', 'an object', value);
  const known = Object.keys(shape);
  for (const key of Object.keys(value)) {
    if (!Object.hasOwn(shape, key)) throw unknown(join(path, key), known, value[key], closest(key, known));
  }
  for (const key of known) {
    const option = value[key];
    if (option !== undefined) shape[key]!(option, join(path, key));
  }
}

function checkRequired(value: Record<string, unknown>, keys: readonly string[], path: string, what: string) {
  for (const key of keys) if (value[key] === undefined) throw invalid(join(path, key), what, undefined);
}

const boolean: Rule = (value, path) => {
  if (typeof value !== 'boolean') throw invalid(path, 'true or false', value);
};

const string: Rule = (value, path) => {
  if (typeof value !== 'string') throw invalid(path, 'a string', value);
};

const nonEmptyString: Rule = (value, path) => {
  if (typeof value !== 'string' || value === '') throw invalid(path, 'a non-empty string', value);
};

function integer(min: number, max = Number.MAX_SAFE_INTEGER): Rule {
  const accepted =
    max === Number.MAX_SAFE_INTEGER
      ? min === 0
        ? 'a non-negative integer'
        : min === 1
          ? 'a positive integer'
          : `an integer of at least ${min}`
      : `an integer from ${min} to ${max}`;
  return (value, path) => {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
      throw invalid(path, accepted, value);
  };
}

/** A number of milliseconds a timer can wait: from `min` (0 or 1) up to what a timer holds. */
function duration(min: 0 | 1): Rule {
  const accepted = `a number of milliseconds from ${min} to ${MAX_TIMER_MS}`;
  return (value, path) => {
    if (typeof value !== 'number' || !(value >= min && value <= MAX_TIMER_MS))
      throw invalid(path, accepted, value);
  };
}

function oneOf(choices: readonly string[]): Rule {
  const accepted = `one of ${choices.map((choice) => `'${choice}'`).join(', ')}`;
  return (value, path) => {
    if (typeof value === 'string' && choices.includes(value)) return;
    const guess = typeof value === 'string' ? closest(value, choices) : undefined;
    throw invalid(path, guess === undefined ? accepted : `${accepted} (did you mean '${guess}'?)`, value);
  };
}

/** An object of the named interface, recognised by its methods (an instance from another copy of troupe counts). */
function withMethods(what: string, methods: readonly string[]): Rule {
  const accepted = `${what} (an object with ${methods.map((m) => `${m}()`).join(', ')})`;
  return (value, path) => {
    if (
      typeof value !== 'object' ||
      value === null ||
      methods.some((method) => typeof (value as Record<string, unknown>)[method] !== 'function')
    )
      throw invalid(path, accepted, value);
  };
}

const shape =
  (rules: Readonly<Record<string, Rule>>): Rule =>
  (value, path) =>
    checkShape(value, rules, path);

const version: Rule = (value, path) => {
  if (typeof value !== 'string' || !/^\d+\.\d+\.\d+$/.test(value))
    throw invalid(path, 'a version major.minor.patch', value);
};

const clock = withMethods('a Clock', ['now', 'setTimeout', 'clearTimeout']);
const random = withMethods('a RandomSource', ['id', 'bytes', 'float']);

const handshakeShape: Shape<NonNullable<ThreadNodeProviderOptions['handshake']>> = {
  protocolVersion: integer(0, 0xffff),
  runtimeVersion: version,
  nodeReuse: boolean,
  lowPriority: boolean,
  taskHost: boolean,
  session: string,
  salt: (value, path) => {
    if (!(value instanceof Uint8Array) || value.length !== 16)
      throw invalid(path, '16 bytes (a Uint8Array)', value);
  },
};

const shutdownShape: Shape<ShutdownTimeouts> = {
  drainTimeoutMs: duration(0),
  exitPollStartMs: duration(1),
  exitPollMaxMs: duration(1),
  exitTimeoutMs: duration(0),
  killTimeoutMs: duration(0),
};

const processShape: Shape<ProcessNodeProviderOptions> = {
  reuse: boolean,
  lowPriority: boolean,
  taskHost: boolean,
  session: string,
  runtimeVersion: version,
  idleTimeoutMs: duration(1),
  connectTimeoutMs: duration(1),
  launchAttempts: integer(1),
  shutdown: shape(shutdownShape),
  captureOutput: boolean,
  nodeCommand: (value, path) => {
    checkShape(value, { command: nonEmptyString, args: stringArray }, path);
    checkRequired(value as Record<string, unknown>, ['command', 'args'], path, 'set');
  },
  env: (value, path) => {
    if (!isRecord(value)) throw invalid(path, 'an object of environment variables', value);
    for (const [name, entry] of Object.entries(value))
      if (entry !== undefined && typeof entry !== 'string')
        throw invalid(join(path, name), 'a string', entry);
  },
  launcher: withMethods('a Launcher', ['launch', 'attach']),
  transport: withMethods('a PipeTransport', ['connect', 'pathFor', 'removeStale']),
  clock,
  random,
};

function stringArray(value: unknown, path: string): void {
  if (!Array.isArray(value)) throw invalid(path, 'an array of strings', value);
  value.forEach((entry, index) => {
    if (typeof entry !== 'string') throw invalid(`${path}[${index}]`, 'a string', entry);
  });
}

const { reuse: _reuse, clock: _clock, random: _random, ...runtimeProcessShape } = processShape;

type NodesOptions = NonNullable<RuntimeOptions['nodes']>;

const nodesShape: Shape<NodesOptions> = {
  kind: oneOf(['inproc', 'thread', 'process', 'multi-threaded']),
  taskHosts: integer(1),
  max: integer(1),
  reuse: boolean,
  process: shape(runtimeProcessShape),
  provider: withMethods('a NodeProvider', ['acquire', 'shutdown']),
  prefetch: integer(0),
  pingIntervalMs: duration(1),
  // Infinity: never declare a node lost for silence (documented); otherwise a timer's range.
  pingTimeoutMs: (value, path) => {
    if (value !== Number.POSITIVE_INFINITY) duration(1)(value, path);
  },
};

const runtimeShape: Shape<RuntimeOptions> = {
  nodes: (value, path) => {
    checkShape(value, nodesShape, path);
    checkNodeCombinations(value as NodesOptions, path);
  },
  policy: withMethods('a SchedulingPolicy', ['compare']),
  stallTimeoutMs: duration(1),
  stallErrorMs: duration(0),
  clock,
  random,
};

/** Options that only some kinds of node read are refused elsewhere: set there, they would do nothing. */
function checkNodeCombinations(nodes: NodesOptions, path: string): void {
  const kind = nodes.kind ?? 'inproc';
  if (nodes.provider !== undefined) {
    for (const key of ['kind', 'reuse', 'process', 'taskHosts'] as const) {
      if (nodes[key] !== undefined)
        throw invalid(
          join(path, key),
          `left out when ${join(path, 'provider')} is given (the provider decides where nodes come from)`,
          nodes[key],
        );
    }
    return;
  }
  if (nodes.taskHosts !== undefined && kind !== 'multi-threaded')
    throw invalid(
      join(path, 'taskHosts'),
      `left out unless kind is 'multi-threaded' (kind is '${kind}')`,
      nodes.taskHosts,
    );
  if (nodes.reuse === true && kind !== 'process')
    throw invalid(join(path, 'reuse'), `left out unless kind is 'process' (kind is '${kind}')`, nodes.reuse);
  if (nodes.process !== undefined && kind !== 'process' && kind !== 'multi-threaded')
    throw invalid(
      join(path, 'process'),
      `left out unless kind is 'process' or 'multi-threaded' (kind is '${kind}')`,
      nodes.process,
    );
}

const threadShape: Shape<ThreadNodeProviderOptions> = {
  clock,
  random,
  handshake: shape(handshakeShape),
  exitTimeoutMs: duration(0),
};

const inprocShape: Shape<InProcessNodeProviderOptions> = {
  transport: withMethods('a MemoryTransport', ['connect', 'listen']),
  clock,
  random,
  handshake: shape(handshakeShape),
};

const leaseShape: Shape<LeaseOptions> = {
  renewIntervalMs: duration(1),
  retryStartMs: duration(1),
  retryMaxMs: duration(1),
  firstRenewalAttempts: integer(1),
};

const dispatcherShape: Shape<JobDispatcherOptions> = {
  source: withMethods('a JobSource', ['take', 'renew', 'complete']),
  workers: withMethods('a JobWorkerFactory', ['start']),
  slots: integer(1),
  channelTimeoutMs: duration(1),
  cancelTimeoutMs: duration(0),
  killTimeoutMs: duration(0),
  lease: shape(leaseShape),
  clock,
};

export function checkRuntimeOptions(options: unknown): void {
  checkShape(options, runtimeShape, '');
}

export function checkProcessProviderOptions(options: unknown): void {
  checkShape(options, processShape, '');
}

export function checkThreadProviderOptions(options: unknown): void {
  checkShape(options, threadShape, '');
}

export function checkInProcessProviderOptions(options: unknown): void {
  checkShape(options, inprocShape, '');
}

export function checkJobDispatcherOptions(options: unknown): void {
  checkShape(options, dispatcherShape, '');
  checkRequired(options as Record<string, unknown>, ['source'], '', 'a JobSource');
}
