import { systemClock, systemRandom } from '@troupe/core';
import { createIdSource } from '@troupe/core/internal';
import { describe, expect, it } from 'vitest';

describe('the real implementations of the injected interfaces', () => {
  it('systemClock fires a timer and can cancel one', async () => {
    const start = systemClock.now();
    await new Promise<void>((resolve) => systemClock.setTimeout(resolve, 1));
    expect(systemClock.now()).toBeGreaterThanOrEqual(start);
    let fired = false;
    const id = systemClock.setTimeout(() => {
      fired = true;
    }, 1);
    systemClock.clearTimeout(id);
    await new Promise<void>((resolve) => systemClock.setTimeout(resolve, 5));
    expect(fired).toBe(false);
  });

  it('systemRandom draws ids, bytes and floats of the asked shape', () => {
    expect(systemRandom.id()).toMatch(/^[A-Za-z0-9_-]{21}$/);
    expect(systemRandom.bytes(32)).toHaveLength(32);
    const f = systemRandom.float();
    expect(f).toBeGreaterThanOrEqual(0);
    expect(f).toBeLessThan(1);
  });

  it('an id source prefixes ids with the kind of thing named, and never repeats', () => {
    const ids = createIdSource();
    const seen = new Set(Array.from({ length: 1_000 }, () => ids.next('node')));
    expect(seen.size).toBe(1_000);
    for (const id of seen) expect(id).toMatch(/^node-[A-Za-z0-9_-]{10}$/);
  });

  it('an id source over a fixed random source is repeatable', () => {
    let n = 0;
    const fixed = { id: () => `id${n++}`, bytes: (k: number) => new Uint8Array(k), float: () => 0.5 };
    expect([createIdSource(fixed).next('job'), createIdSource(fixed).next('job')]).toEqual([
      'job-id0',
      'job-id1',
    ]);
  });
});
