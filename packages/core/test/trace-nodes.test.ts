// Nodes on the runtime's timeline (docs/tracing.md): a process node's life from its launch to the
// wait for its exit, and a node from a provider that does not say when it made it.
import {
  createRuntime,
  InProcessNodeProvider,
  type NodeProvider,
  type TraceFileContents,
  TraceRecorder,
} from '@troupe/core';
import { describe, expect, it } from 'vitest';
import { timelineProblems, tracks } from './support/timeline.js';

const tasks = new URL('./fixtures/trace-tasks.mjs', import.meta.url).href;

function trace(recorder: TraceRecorder) {
  const file = JSON.parse(JSON.stringify(recorder)) as TraceFileContents;
  return { file, all: [...tracks(file).values()] };
}

describe('nodes on the timeline', () => {
  it('a process node: launched with its pid, handshaken, busy, its exit packet, then the wait for its exit', async () => {
    const recorder = new TraceRecorder();
    const runtime = createRuntime({ nodes: { kind: 'process', max: 1 }, trace: recorder });
    try {
      await runtime.build({ task: `${tasks}#compile`, input: { id: 'one', ms: 0 } });
    } finally {
      await runtime.shutdown();
    }
    const { file, all } = trace(recorder);
    expect(timelineProblems(file)).toEqual([]);
    const node = all.find((t) => t.name === 'connection')!;
    expect(node.spans[0]).toMatchObject({
      name: 'launch',
      args: { kind: 'process', pid: expect.any(Number) },
    });
    expect(node.instants.map((i) => i.name)).toEqual(
      expect.arrayContaining(['accepted', 'exit packet queued', 'exit packet sent', 'closed']),
    );
    // The provider's side of the end: it waited for the process to exit, and it did.
    const exit = all.find((t) => t.process === node.process && t.name === 'process')!;
    expect(exit.spans).toEqual([
      expect.objectContaining({ name: 'waiting for exit', args: { exited: true } }),
    ]);
  });

  it('a node whose provider does not announce its creation is on the timeline from when it joins', async () => {
    const inner = new InProcessNodeProvider();
    // A provider of the user's own that passes no options on: the runtime learns of each node
    // only when it has it.
    const provider: NodeProvider = {
      kind: 'inproc',
      acquire: (count) => inner.acquire(count),
      shutdown: (nodes) => inner.shutdown(nodes),
    };
    const recorder = new TraceRecorder();
    const runtime = createRuntime({ nodes: { provider, max: 1 }, trace: recorder });
    try {
      await runtime.build({ task: `${tasks}#compile`, input: { id: 'one', ms: 0 } });
    } finally {
      await runtime.shutdown();
    }
    const { file, all } = trace(recorder);
    expect(timelineProblems(file)).toEqual([]);
    const node = all.find((t) => t.name === 'connection')!;
    expect(node.spans.map((s) => s.name)[0]).toBe('idle');
    expect(node.instants.at(-1)!.name).toBe('closed');
  });
});
