// Shutting down nodes whose cancelled task will not stop: the node ends within the documented
// bound by the documented path (a thread is terminated the exit timeout after its exit packet; a
// process node that serves no more exits by itself, else is killed), and what the task logged
// before the end reaches the host.
import { type NodeContext, type NodeWarning, ProcessNodeProvider, ThreadNodeProvider } from '@troupe/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanupSandbox, createSandbox, isRunning, type Sandbox, waitFor } from './support/processes.js';

const tasks = new URL('./fixtures/process-tasks.mjs', import.meta.url).href;

let sandbox: Sandbox;
const cleanups: Array<() => Promise<unknown>> = [];

beforeEach(async () => {
  sandbox = await createSandbox();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  await cleanupSandbox(sandbox);
});

/** Every log line `node` sends, as it arrives. */
function logsOf(node: NodeContext): string[] {
  const lines: string[] = [];
  node.on('log', (body) => lines.push(body.message));
  return lines;
}

/** Starts `task` on `node` with a signal, waits for its first log line, and cancels it. */
async function startAndCancel(node: NodeContext, task: string, input: unknown, lines: string[]) {
  const cancel = new AbortController();
  node.request(`${tasks}#${task}`, input, { signal: cancel.signal }).catch(() => {});
  expect(await waitFor(() => lines.length > 0)).toBe(true);
  cancel.abort();
}

describe('shutdown after a cancel the task ignores', () => {
  it('a thread node whose task keeps working in chunks ends by itself, and its lines arrive', async () => {
    const host = new ThreadNodeProvider({ exitTimeoutMs: 30_000 });
    const [node] = await host.acquire(1);
    cleanups.push(() => host.shutdown());
    const lines = logsOf(node!);
    await startAndCancel(node!, 'chunks', null, lines);

    await host.shutdown();

    // Exit code 0: the thread ended itself a grace after its endpoint exited, no terminate.
    expect(node!.process!.exit()).toEqual({ code: 0, signal: null });
    expect(lines).toEqual(['working', 'cancelled, carrying on']);
  });

  it('a process node whose task keeps working in chunks exits by itself, not killed', async () => {
    const warnings: NodeWarning[] = [];
    const host = new ProcessNodeProvider({
      transport: sandbox.transport,
      launcher: sandbox.launcher,
      shutdown: { exitTimeoutMs: 15_000 },
    });
    host.on('warning', (warning) => warnings.push(warning));
    const [node] = await host.acquire(1);
    const lines = logsOf(node!);
    await startAndCancel(node!, 'chunks', null, lines);

    await host.shutdown();

    expect(warnings).toEqual([]);
    expect(node!.process!.exit()).toEqual({ code: 0, signal: null });
    expect(lines).toEqual(['working', 'cancelled, carrying on']);
    expect(isRunning(node!.pid!)).toBe(false);
  });

  it('a process node busy past the link close timeout still delivers what its task logged before it ended', async () => {
    const host = new ProcessNodeProvider({ transport: sandbox.transport, launcher: sandbox.launcher });
    const [node] = await host.acquire(1);
    // Once the node knows the task, it starts it as the request arrives, before it reads the
    // cancel and the exit packet behind it.
    expect(await node!.request(`${tasks}#spin`, { ms: 1 })).toBe('spun');
    const lines = logsOf(node!);
    const cancel = new AbortController();
    node!.request(`${tasks}#spin`, { ms: 3_000 }, { signal: cancel.signal }).catch(() => {});
    cancel.abort();

    await host.shutdown();

    // The task spun 3 s, past the link's 2 s default close wait; the host read on until the node ended.
    expect(lines).toEqual(['spinning', 'last words']);
    expect(node!.process!.exit()).toEqual({ code: 0, signal: null });
  });
});
