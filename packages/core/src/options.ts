import type { HandshakeOptions } from '@troupe/transport';
import { InvalidOptionError } from './errors.js';

/**
 * Options are checked once, when the thing they configure is made: a wrong value (`max: '2'`,
 * `kind: 'processes'`) or a key that is no option (`node:` for `nodes:`) is an
 * `InvalidOptionError` naming the option's path and the value, never a silent default or a hang.
 *
 * This module is the rules; each options type's shape lives beside the type (the runtime, each
 * provider, the job dispatcher), with a rule for every key (`Shape` makes the compiler insist), so
 * an option added to an interface cannot be forgotten, and no owner's module is imported here.
 */
export type Rule = (value: unknown, path: string) => void;
// String keys only: a symbol-keyed option (`internalSeams`) is no user's option, and is not checked.
export type Shape<T> = { readonly [K in Exclude<keyof Required<T>, symbol>]: Rule };

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

export function invalid(path: string, accepted: string, value: unknown): InvalidOptionError {
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

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export const join = (path: string, key: string) => (path ? `${path}.${key}` : key);

/** Checks `value` against `shape`: every key must be an option, every option that is set must pass its rule. */
export function checkShape(value: unknown, shape: Readonly<Record<string, Rule>>, path: string): void {
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

export function checkRequired(
  value: Record<string, unknown>,
  keys: readonly string[],
  path: string,
  what: string,
) {
  for (const key of keys) if (value[key] === undefined) throw invalid(join(path, key), what, undefined);
}

export const boolean: Rule = (value, path) => {
  if (typeof value !== 'boolean') throw invalid(path, 'true or false', value);
};

export const string: Rule = (value, path) => {
  if (typeof value !== 'string') throw invalid(path, 'a string', value);
};

export const nonEmptyString: Rule = (value, path) => {
  if (typeof value !== 'string' || value === '') throw invalid(path, 'a non-empty string', value);
};

export function integer(min: number, max = Number.MAX_SAFE_INTEGER): Rule {
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
export function duration(min: 0 | 1): Rule {
  const accepted = `a number of milliseconds from ${min} to ${MAX_TIMER_MS}`;
  return (value, path) => {
    if (typeof value !== 'number' || !(value >= min && value <= MAX_TIMER_MS))
      throw invalid(path, accepted, value);
  };
}

export function oneOf(choices: readonly string[]): Rule {
  const accepted = `one of ${choices.map((choice) => `'${choice}'`).join(', ')}`;
  return (value, path) => {
    if (typeof value === 'string' && choices.includes(value)) return;
    const guess = typeof value === 'string' ? closest(value, choices) : undefined;
    throw invalid(path, guess === undefined ? accepted : `${accepted} (did you mean '${guess}'?)`, value);
  };
}

/** An object of the named interface, recognised by its methods (an instance from another copy of troupe counts). */
export function withMethods(what: string, methods: readonly string[]): Rule {
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

export const shape =
  (rules: Readonly<Record<string, Rule>>): Rule =>
  (value, path) =>
    checkShape(value, rules, path);

export const version: Rule = (value, path) => {
  if (typeof value !== 'string' || !/^\d+\.\d+\.\d+$/.test(value))
    throw invalid(path, 'a version major.minor.patch', value);
};

export const clock = withMethods('a Clock', ['now', 'setTimeout', 'clearTimeout']);
export const random = withMethods('a RandomSource', ['id', 'bytes', 'float']);

export const handshakeShape: Shape<HandshakeOptions> = {
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

export function stringArray(value: unknown, path: string): void {
  if (!Array.isArray(value)) throw invalid(path, 'an array of strings', value);
  value.forEach((entry, index) => {
    if (typeof entry !== 'string') throw invalid(`${path}[${index}]`, 'a string', entry);
  });
}
