// The result cache's key: two requests share a key exactly when their inputs would reach the task
// as the same value. A shared key for different inputs is a wrong result handed back silently.
import { isDeepStrictEqual } from 'node:util';
import { deserialize, serialize } from 'node:v8';
import { requestKey } from '@troupe/core/internal';
import { ValueNotCloneableError } from '@troupe/transport';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const key = (input: unknown) => requestKey({ task: 't', input });

/** Values structured cloning keeps, from a small domain so that equal and near-equal ones meet. */
const { value } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom<unknown>(0, 1, -1, 0.5, Number.NaN, Number.POSITIVE_INFINITY, 'a', '1', 'NaN', '1n'),
    fc.constantFrom<unknown>(null, undefined, true, false),
    fc.bigInt({ min: -2n, max: 2n }),
    fc.integer({ min: 0, max: 2 }).map((n) => new Date(n)),
    fc.constantFrom('a', 'b').map((source) => new RegExp(source, 'g')),
    fc
      .array(fc.integer({ min: 0, max: 2 }), { maxLength: 2 })
      .chain((bytes) =>
        fc.constantFrom<unknown>(Buffer.from(bytes), Uint8Array.from(bytes), Float64Array.from(bytes)),
      ),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom('a', 'b', 'c'), tie('value'), { maxKeys: 3 }),
    fc.array(fc.tuple(tie('value'), tie('value')), { maxLength: 2 }).map((entries) => new Map(entries)),
    fc.array(tie('value'), { maxLength: 2 }).map((members) => new Set(members)),
  ),
}));

describe('requestKey', () => {
  it('tells Maps, Sets, Dates, BigInts and the rest apart by kind and content', () => {
    const inputs: unknown[] = [
      {},
      [],
      new Map(),
      new Set(),
      new Map([['a', 1]]),
      new Map([['a', 2]]),
      new Set([1]),
      new Set(['1']),
      new Date(0),
      new Date(1),
      new Date(Number.NaN),
      1n,
      2n,
      1,
      '1n',
      null,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      /a/g,
      /a/i,
      Buffer.from([1]),
      Uint8Array.of(1),
      Float64Array.of(1),
      new Uint8Array([1]).buffer,
      new Error('x'),
      new TypeError('x'),
      { a: undefined },
    ];
    const keys = inputs.map(key);
    expect(new Set(keys).size).toBe(inputs.length);
  });

  it('gives equal inputs the same key, whatever their object key order', () => {
    expect(key({ a: 1, b: new Map([[1n, new Date(5)]]) })).toBe(
      key({ b: new Map([[1n, new Date(5)]]), a: 1 }),
    );
    expect(key(new Set([{ x: 1, y: 2 }]))).toBe(key(new Set([{ y: 2, x: 1 }])));
  });

  it('keys cycles and shared references by where they point', () => {
    const a: Record<string, unknown> = { n: 1 };
    a.self = a;
    const b: Record<string, unknown> = { n: 1 };
    b.self = b;
    expect(key(a)).toBe(key(b));
    const shared = { z: 1 };
    expect(key([shared, shared])).not.toBe(key([{ z: 1 }, { z: 1 }]));
  });

  it('refuses an input that cannot cross, naming its path', () => {
    expect(() => key({ steps: [{ run: () => {} }] })).toThrow(ValueNotCloneableError);
    expect(() => key({ steps: [{ run: () => {} }] })).toThrow('input.steps[0].run is a function');
    expect(() => key(new Map([['k', Promise.resolve()]]))).toThrow('input.get("k") is a Promise');
  });

  it('the same key means the same value, and a structured clone has the same key (property)', () => {
    fc.assert(
      fc.property(value, value, (a, b) => {
        // v8's serializer is structured cloning that, as a link does, keeps a Buffer a Buffer.
        expect(key(deserialize(serialize(a)))).toBe(key(a));
        // Compared as they arrive: a clone has no prototype to tell {} from a null-prototype object.
        if (key(a) === key(b))
          expect(isDeepStrictEqual(deserialize(serialize(a)), deserialize(serialize(b)))).toBe(true);
      }),
      { numRuns: 2_000 },
    );
  });
});
