// Found by the mutation run (npm run check:mutants): queue.test.ts checks `pop` against a sorted
// list but never `peek`, which the scheduler's restart and pick paths use; `peek` with its heap
// empty (or its run empty) was left unchecked.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WaitingQueue } from '../src/scheduler/queue.js';

interface Item {
  id: number;
  priority: number;
  queueIndex: number | undefined;
}

const compare = (a: Item, b: Item) => b.priority - a.priority || a.id - b.id;

describe('waiting queue: peek', () => {
  it('peek names what the next pop returns, and leaves it queued, whatever came before', () => {
    const steps = fc.array(
      fc.oneof(
        fc.record({ op: fc.constant('push' as const), priority: fc.integer({ min: 0, max: 3 }) }),
        fc.record({ op: fc.constant('pop' as const) }),
        fc.record({ op: fc.constant('improve' as const), pick: fc.nat() }),
      ),
      { maxLength: 120 },
    );
    fc.assert(
      fc.property(steps, (script) => {
        const queue = new WaitingQueue<Item>(compare);
        const model: Item[] = [];
        let next = 0;
        for (const step of script) {
          if (step.op === 'push') {
            const item = { id: next++, priority: step.priority, queueIndex: undefined };
            queue.push(item);
            model.push(item);
          } else if (step.op === 'improve' && model.length > 0) {
            const item = model[step.pick % model.length]!;
            item.priority++;
            queue.improved(item);
          } else if (step.op === 'pop') {
            model.sort(compare);
            const expected = model.shift();
            expect(queue.peek()).toBe(expected);
            expect(queue.pop()).toBe(expected);
          }
          model.sort(compare);
          // Peeking twice changes nothing: the same item, the same size.
          expect(queue.peek()).toBe(model[0]);
          expect(queue.peek()).toBe(model[0]);
          expect(queue.size).toBe(model.length);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('peek with only the run, only the heap, and neither', () => {
    const queue = new WaitingQueue<Item>(compare);
    expect(queue.peek()).toBeUndefined();
    const low = { id: 0, priority: 0, queueIndex: undefined };
    queue.push(low); // into the run
    expect(queue.peek()).toBe(low);
    const high = { id: 1, priority: 5, queueIndex: undefined };
    queue.push(high); // smaller under compare than the run's tail: into the heap
    expect(queue.peek()).toBe(high);
    expect(queue.pop()).toBe(high);
    expect(queue.pop()).toBe(low);
    // Only the heap: an item improved out of the run.
    const moved = { id: 2, priority: 0, queueIndex: undefined };
    queue.push(moved);
    moved.priority = 9;
    queue.improved(moved);
    expect(queue.peek()).toBe(moved);
    expect(queue.pop()).toBe(moved);
    expect(queue.peek()).toBeUndefined();
  });
});
