// What a node has to send goes out before a task that keeps the node's thread busy, not after it:
// a result queued in one turn would otherwise wait out the next task staged behind it.
import { BroadcastChannel } from 'node:worker_threads';
import { createRuntime, type Runtime } from '@troupe/core';
import { afterEach, describe, expect, it } from 'vitest';

const tasks = new URL('./fixtures/held-thread-tasks.mjs', import.meta.url).href;
let runtime: Runtime | undefined;
let channel: BroadcastChannel | undefined;
afterEach(async () => {
  channel?.close();
  await runtime?.shutdown();
  runtime = undefined;
});

describe('a node starting a task that holds its thread', () => {
  it('sends the results it has queued first: the host has them while the task still runs', async () => {
    runtime = createRuntime({ nodes: { kind: 'thread', max: 1, prefetch: 3 } });
    const run = `${process.pid}-${Date.now()}`;
    channel = new BroadcastChannel('troupe-held-thread-tasks');
    // The host tells the holding tasks each quick result it has received.
    runtime.on('request', (request, _from, to) => {
      if (to === 'completed' && request.spec.task.endsWith('#quick'))
        channel?.postMessage({ run, id: request.value });
    });
    // A long deadline (within the node's ping timeout): hearing is the point, and a node that
    // holds its output never lets it arrive.
    const holding = (until: string) => ({
      task: `${tasks}#holdsThread`,
      input: { run, until, deadlineMs: 5_000 },
    });
    // All four go to the one node at once (prefetch): each quick one finishes in the same turn as
    // the holding one after it starts. The first holding task is new to the node; the second is
    // known to hold the thread from its first run.
    const results = await runtime.build([
      { task: `${tasks}#quick`, input: { id: 'first' } },
      holding('first'),
      { task: `${tasks}#quick`, input: { id: 'second' } },
      holding('second'),
    ]);
    expect(results).toEqual(['first', 'heard first', 'second', 'heard second']);
  });
});
