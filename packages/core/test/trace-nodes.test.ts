// Nodes on the runtime's timeline (docs/tracing.md): a node's life from its launch to the end of
// what ran it (a process, a thread, an in-process endpoint), and a node from a provider that does
// not say when it made it.
import {
  createRuntime,
  InProcessNodeProvider,
  type NodeProvider,
  ThreadNodeProvider,
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

  it('a thread node: its thread ends by itself after the exit packet, on a track of its own', async () => {
    const recorder = new TraceRecorder();
    const runtime = createRuntime({ nodes: { kind: 'thread', max: 1 }, trace: recorder });
    try {
      expect(await runtime.build({ task: `${tasks}#compile`, input: { id: 'one', ms: 0 } })).toBe('one()');
    } finally {
      await runtime.shutdown();
    }
    const { file, all } = trace(recorder);
    expect(timelineProblems(file)).toEqual([]);
    const node = all.find((t) => t.name === 'connection')!;
    const thread = all.find((t) => t.process === node.process && t.name === 'thread')!;
    expect(thread.spans).toEqual([
      expect.objectContaining({ name: 'waiting for exit', args: { exited: true } }),
    ]);
    expect(thread.instants).toEqual([]);
    // The wait begins once the connection has closed after its exit packet.
    const closed = node.instants.find((i) => i.name === 'closed')!;
    expect(thread.spans[0]!.ts).toBeGreaterThanOrEqual(closed.ts);
  });

  it('a thread node that outlives its exit timeout: the wait, the kill, then the wait for the terminated thread', async () => {
    const recorder = new TraceRecorder();
    const provider = new ThreadNodeProvider({ exitTimeoutMs: 100 });
    const runtime = createRuntime({ nodes: { provider, max: 1 }, trace: recorder });
    try {
      expect(await runtime.build({ task: `${tasks}#lingers`, input: { id: 'stays' } })).toBe('stays');
    } finally {
      await runtime.shutdown();
    }
    const { file, all } = trace(recorder);
    expect(timelineProblems(file)).toEqual([]);
    const thread = all.find((t) => t.name === 'thread')!;
    expect(thread.spans.map((s) => [s.name, s.args])).toEqual([
      ['waiting for exit', { exited: false }],
      ['waiting after kill', { gone: true }],
    ]);
    expect(thread.instants.map((i) => i.name)).toEqual(['kill']);
  });

  it('an in-process node: its endpoint exits after the exit packet', async () => {
    const recorder = new TraceRecorder();
    const runtime = createRuntime({ nodes: { kind: 'inproc', max: 1 }, trace: recorder });
    try {
      await runtime.build({ task: `${tasks}#compile`, input: { id: 'one', ms: 0 } });
    } finally {
      await runtime.shutdown();
    }
    const { file, all } = trace(recorder);
    expect(timelineProblems(file)).toEqual([]);
    const endpoint = all.find((t) => t.name === 'endpoint')!;
    expect(endpoint.spans.map((s) => [s.name, s.args])).toEqual([['waiting for exit', { exited: true }]]);
  });

  it('the checks bite: a node track holding two things at once, and an end that never came, are found', async () => {
    const recorder = new TraceRecorder();
    const runtime = createRuntime({ nodes: { kind: 'inproc', max: 1 }, trace: recorder });
    try {
      await runtime.build({ task: `${tasks}#compile`, input: { id: 'one', ms: 0 } });
    } finally {
      await runtime.shutdown();
    }
    const { file } = trace(recorder);
    const overlapping = structuredClone(file);
    const busy = overlapping.traceEvents.find((e) => e.name === 'busy')!;
    busy.dur = busy.dur! + 10_000;
    expect(timelineProblems(overlapping).join('\n')).toMatch(/busy and .* overlap/);
    const unended = structuredClone(file);
    unended.traceEvents.find((e) => e.name === 'waiting for exit')!.args = { exited: false };
    expect(timelineProblems(unended).join('\n')).toMatch(/does not end with the node's end/);
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
