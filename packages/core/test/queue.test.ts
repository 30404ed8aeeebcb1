import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WaitingQueue } from '../src/scheduler/queue.js';

interface Item {
  id: number;
  priority: number;
  queueIndex: number | undefined;
}

const compare = (a: Item, b: Item) => b.priority - a.priority || a.id - b.id;

const ops = fc.array(
  fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({ op: fc.constant('push' as const), priority: fc.integer({ min: 0, max: 4 }) }),
    },
    { weight: 3, arbitrary: fc.record({ op: fc.constant('pop' as const) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('delete' as const), pick: fc.nat() }) },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant('improve' as const),
        pick: fc.nat(),
        by: fc.integer({ min: 1, max: 3 }),
      }),
    },
  ),
  { maxLength: 400 },
);

describe('waiting queue', () => {
  it('pops exactly what a sorted list would, whatever the pushes, deletes and improvements', () => {
    fc.assert(
      fc.property(ops, (script) => {
        const queue = new WaitingQueue<Item>(compare);
        let model: Item[] = [];
        let next = 0;
        for (const step of script) {
          if (step.op === 'push') {
            const item = { id: next++, priority: step.priority, queueIndex: undefined };
            queue.push(item);
            model.push(item);
          } else if (step.op === 'pop') {
            model.sort(compare);
            const expected = model.shift();
            expect(queue.pop()).toBe(expected);
            if (expected) expect(expected.queueIndex).toBeUndefined();
          } else if (model.length > 0) {
            const item = model[step.pick % model.length]!;
            if (step.op === 'delete') {
              expect(queue.delete(item)).toBe(true);
              expect(queue.delete(item)).toBe(false);
              model = model.filter((m) => m !== item);
            } else {
              item.priority += step.by;
              queue.improved(item);
            }
          }
          expect(queue.size).toBe(model.length);
        }
        model.sort(compare);
        for (const expected of model) expect(queue.pop()).toBe(expected);
        expect(queue.pop()).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });

  it('a long run of equal items comes out in order, and space at its front is reclaimed', () => {
    const queue = new WaitingQueue<Item>(compare);
    const items = Array.from({ length: 10_000 }, (_, id) => ({ id, priority: 1, queueIndex: undefined }));
    for (const item of items) queue.push(item);
    for (let i = 0; i < 6_000; i++) expect(queue.pop()).toBe(items[i]);
    // An item deep in the run still knows its place after the front was dropped.
    expect(queue.delete(items[9_000]!)).toBe(true);
    items[8_000]!.priority = 5;
    queue.improved(items[8_000]!);
    expect(queue.pop()).toBe(items[8_000]);
    const rest: number[] = [];
    for (let item = queue.pop(); item; item = queue.pop()) rest.push(item.id);
    expect(rest).toEqual(
      items
        .slice(6_000)
        .map((i) => i.id)
        .filter((id) => id !== 9_000 && id !== 8_000),
    );
  });
});
