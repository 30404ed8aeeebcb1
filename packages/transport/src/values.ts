import { Packr, Unpackr } from 'msgpackr';
import { ValueNotCloneableError } from './errors.js';

/**
 * What crosses a link, and how: packet bodies are encoded with structured-clone semantics (what
 * `postMessage` and `structuredClone` give), so a value arrives as the same kind of value it was
 * sent as. Maps, Sets, Dates, RegExps, BigInts, Errors, typed arrays, ArrayBuffers, DataViews,
 * `undefined`, shared references and cycles all survive; a class instance arrives as a plain
 * object with its own enumerable fields (no prototype, so no methods), as `postMessage` gives.
 *
 * What has no meaning on the other side is refused on the sending side with a
 * `ValueNotCloneableError` naming its path inside the value: functions, symbols, promises, weak
 * collections, boxed primitives, and the few built-ins whose state is internal and would arrive as
 * `{}` (URL, URLSearchParams, Blob, generators) (docs/protocol.md, "Values").
 */

/** Why a value other than a plain object cannot cross, or undefined if it can. */
function refusedObject(value: object): string | undefined {
  if (value instanceof Promise) return 'a Promise (await it before sending its value)';
  if (value instanceof WeakMap) return 'a WeakMap';
  if (value instanceof WeakSet) return 'a WeakSet';
  if (value instanceof WeakRef) return 'a WeakRef';
  if (value instanceof String || value instanceof Number || value instanceof Boolean)
    return `a boxed ${value.constructor.name} (send the primitive)`;
  if (value instanceof URL) return 'a URL (send its href)';
  if (value instanceof URLSearchParams) return 'a URLSearchParams (send its string)';
  if (value instanceof Blob) return 'a Blob (send its bytes)';
  // Objects whose state is internal would arrive as {} without a word.
  const tag = Object.prototype.toString.call(value);
  if (tag === '[object BigInt]') return 'a boxed BigInt (send the primitive)';
  if (tag === '[object Generator]' || tag === '[object AsyncGenerator]') return `a ${tag.slice(8, -1)}`;
  return undefined;
}

/** Why `value` itself (not what it holds) cannot cross, or undefined if it can. */
export function refusedValue(value: unknown): string | undefined {
  switch (typeof value) {
    case 'function':
      return 'a function';
    case 'symbol':
      return 'a symbol';
    case 'object':
      return value === null || value.constructor === Object || Array.isArray(value)
        ? undefined
        : refusedObject(value);
    default:
      return undefined;
  }
}

/** Marks the encoder's refusal, so the search for its path runs only on the failure path. */
class Refused extends Error {}

/**
 * msgpackr calls `useRecords` with every object it writes as a map or record (plain objects and
 * class instances, after its extensions took Dates, Sets, Errors and binary): the place to refuse
 * what structured cloning refuses without a walk of its own on the hot path.
 */
function checkObject(object: object): boolean {
  if (object.constructor !== Object && refusedObject(object)) throw new Refused();
  return true;
}

/** A new encoder for one direction of one link (its record structures are that link's). */
export function createValueEncoder(): Packr {
  return new Packr({
    sequential: true,
    structuredClone: true,
    // A class's toJSON shapes what it shows as JSON; structured cloning sends its fields.
    useToJSON: false,
    useRecords: checkObject,
    // msgpackr would send a function as `undefined`.
    writeFunction: () => {
      throw new Refused();
    },
  } as ConstructorParameters<typeof Packr>[0]);
}

/**
 * Makes `packr` forget its record structures, so the next packets define theirs again. For a
 * packet encoded and then not sent (it failed half-way, or it was too large): the packer may have
 * given it a record structure the peer's decoder never saw, and a later packet of that shape
 * would refer to it. Costs the next few packets their definitions again, on the failure path only.
 *
 * `clearSharedData()` is in msgpackr's typed API (index.d.ts) but its README speaks of it for
 * shared structures; that it also restarts a `sequential` packer's own record ids at the first
 * one, and that its decoder takes a record id defined again, is msgpackr 2.1's behaviour that
 * test/values.test.ts ("record structures") pins, so an upgrade that changes it fails there.
 */
export function forgetStructures(packr: Packr): void {
  packr.clearSharedData();
}

/** A new decoder for one direction of one link. */
export function createValueDecoder(): Unpackr {
  return new Unpackr({ sequential: true, structuredClone: true });
}

/** `root` then `.key`, `[index]` or `["odd key"]`. */
function step(path: string, key: PropertyKey): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  if (typeof key === 'symbol') return `${path}[${String(key)}]`;
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/**
 * The first thing inside `value` that cannot cross a link, as `{path, what}` with the path
 * starting at `root` (`result.handlers[2].onDone`), or undefined if everything can. Walks what
 * the encoder walks: own enumerable string keys, array items, Map keys and values, Set members,
 * an Error's cause (and an AggregateError's errors), each object once.
 */
export function findRefused(value: unknown, root: string): { path: string; what: string } | undefined {
  const seen = new Set<object>();
  const visit = (current: unknown, path: string): { path: string; what: string } | undefined => {
    const what = refusedValue(current);
    if (what) return { path, what };
    if (typeof current !== 'object' || current === null || seen.has(current)) return undefined;
    seen.add(current);
    if (ArrayBuffer.isView(current) || current instanceof ArrayBuffer) return undefined;
    if (current instanceof Date || current instanceof RegExp) return undefined;
    if (current instanceof Error) {
      const found = visit(current.cause, `${path}.cause`);
      if (found || !(current instanceof AggregateError)) return found;
      return visit(current.errors, `${path}.errors`);
    }
    if (current instanceof Map) {
      let index = 0;
      for (const [key, entry] of current) {
        const named = typeof key === 'string' || typeof key === 'number' || typeof key === 'boolean';
        const found =
          visit(key, `${path}.<key ${index}>`) ??
          visit(entry, named ? `${path}.get(${JSON.stringify(key)})` : `${path}.<value ${index}>`);
        if (found) return found;
        index++;
      }
      return undefined;
    }
    if (current instanceof Set) {
      let index = 0;
      for (const member of current) {
        const found = visit(member, `${path}.<member ${index++}>`);
        if (found) return found;
      }
      return undefined;
    }
    if (Array.isArray(current)) {
      for (let index = 0; index < current.length; index++) {
        const found = visit(current[index], step(path, index));
        if (found) return found;
      }
      return undefined;
    }
    for (const key of Object.keys(current)) {
      const found = visit((current as Record<string, unknown>)[key], step(path, key));
      if (found) return found;
    }
    return undefined;
  };
  return visit(value, root);
}

/** Throws `ValueNotCloneableError` for the first thing in `value` that cannot cross a link. */
export function assertCloneable(value: unknown, root: string): void {
  const found = findRefused(value, root);
  if (found) throw new ValueNotCloneableError(found.path, found.what);
}

/**
 * Encodes `body` with `packr`; what cannot cross becomes a `ValueNotCloneableError` naming its
 * path from `root`. Other encoder failures are rethrown as they are.
 */
export function encodeValue(packr: Packr, body: unknown, root: string): Buffer {
  try {
    return packr.pack(body);
  } catch (error) {
    const found = findRefused(body, root);
    if (found) throw new ValueNotCloneableError(found.path, found.what, { cause: error });
    if (error instanceof Refused) throw new ValueNotCloneableError(root, 'not cloneable', { cause: error });
    throw error;
  }
}
