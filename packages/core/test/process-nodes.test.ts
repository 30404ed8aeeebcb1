// Process nodes with real processes: every check that a process is gone reads the process table
// (kill(pid, 0) and /proc), not the host's handles. Each test has its own socket directory, so it
// never meets the user's real nodes or another test's, and its processes are killed afterwards
// even when it fails.
import { readdir } from 'node:fs/promises';
import { getPriority } from 'node:os';
import {
  listNodes,
  NodeConnectionFailedError,
  type NodeContext,
  NodeLaunchError,
  type NodeWarning,
  ProcessNodeProvider,
  type ProcessNodeProviderOptions,
  type ShutdownAllResult,
  shutdownAll,
} from '@troupe/core';
import { NodeRegistry } from '@troupe/core/internal';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  cleanupSandbox,
  createSandbox,
  isRunning,
  processesUsing,
  processState,
  type Sandbox,
  waitFor,
  waitUntilGone,
} from './support/processes.js';

const tasks = new URL('./fixtures/process-tasks.mjs', import.meta.url).href;
const crashNode = new URL('./fixtures/crash-node.mjs', import.meta.url).pathname;

let sandbox: Sandbox;

beforeEach(async () => {
  sandbox = await createSandbox();
});

afterEach(async () => {
  await cleanupSandbox(sandbox);
});

/** A provider in this test's sandbox, recording every node it hands out and how. */
function provider(options: ProcessNodeProviderOptions = {}) {
  const created = new ProcessNodeProvider({
    transport: sandbox.transport,
    launcher: sandbox.launcher,
    ...options,
  });
  const events: Array<{ pid: number | undefined; how: 'launched' | 'reused' }> = [];
  created.on('node', (node, how) => {
    if (node.pid) sandbox.pids.add(node.pid);
    events.push({ pid: node.pid, how });
  });
  return { provider: created, events };
}

const pidsOf = (nodes: readonly NodeContext[]) => nodes.map((node) => node.pid!).sort((a, b) => a - b);

/** Resolves with the first log line a node sends with this message. */
function logged(node: NodeContext, message: string): Promise<void> {
  return new Promise((resolve) => {
    const onLog = (body: { message: string }) => {
      if (body.message !== message) return;
      node.off('log', onLog);
      resolve();
    };
    node.on('log', onLog);
  });
}

describe('process nodes (real processes)', () => {
  it('acquires 4 nodes, pings each, and after shutdown leaves no process and no file', async () => {
    const { provider: host, events } = provider();
    const nodes = await host.acquire(4);
    expect(nodes).toHaveLength(4);
    expect(events.map((e) => e.how)).toEqual(['launched', 'launched', 'launched', 'launched']);

    const pongs = (await Promise.all(nodes.map((node) => node.request('troupe:ping', null)))) as Array<{
      pid: number;
    }>;
    const pids = pongs.map((pong) => pong.pid);
    expect(new Set(pids).size).toBe(4);
    expect(pids).toEqual(nodes.map((node) => node.pid));
    expect(pids).not.toContain(process.pid);
    expect(pidsOf(nodes)).toEqual([...sandbox.launched].sort((a, b) => a - b));
    for (const pid of pids) expect(isRunning(pid)).toBe(true);

    await host.shutdown();

    for (const node of nodes) {
      expect(node.state).toBe('closed');
      expect(node.exitPacket).toBe('sent');
      // shutdown() resolves once the processes have exited: no waiting here.
      expect(isRunning(node.pid!)).toBe(false);
    }
    expect(processesUsing(sandbox.directory)).toEqual([]);
    expect(host.nodes).toEqual([]);
    expect(await readdir(sandbox.directory)).toEqual([]);
  });

  it('with reuse, claims made at once (a pool growing a node at a time) all get idle nodes', async () => {
    const a = provider({ reuse: true });
    const idlePids = pidsOf(await a.provider.acquire(3));
    await a.provider.shutdown();
    const b = provider({ reuse: true });
    const claimed = await Promise.all([b.provider.acquire(1), b.provider.acquire(1), b.provider.acquire(1)]);
    expect(b.events.map((e) => e.how)).toEqual(['reused', 'reused', 'reused']);
    expect(pidsOf(claimed.flat())).toEqual(idlePids);
    expect(sandbox.launched).toHaveLength(3);
    await b.provider.shutdown(undefined, { reuse: false });
  });

  it('with reuse, idle nodes are capped per user across hosts: the newest that would go idle past the cap exits', async () => {
    const [a, b] = [provider({ reuse: true, maxIdleNodes: 3 }), provider({ reuse: true, maxIdleNodes: 3 })];
    const [fromA, fromB] = await Promise.all([a.provider.acquire(2), b.provider.acquire(2)]);
    const all = pidsOf([...fromA!, ...fromB!]);
    expect(sandbox.launched).toHaveLength(4);
    const registered = await new NodeRegistry(sandbox.directory).list(0);
    const newest = registered
      .sort((x, y) => x.registeredAtMs - y.registeredAtMs || x.pid - y.pid)
      .at(-1)!.pid;
    await Promise.all([a.provider.shutdown(), b.provider.shutdown()]);
    expect(await waitUntilGone(newest)).toBe(true);
    const kept = all.filter((pid) => pid !== newest);
    for (const pid of kept) expect(isRunning(pid)).toBe(true);
    expect((await new NodeRegistry(sandbox.directory).list(0)).map((n) => n.pid)).toEqual(kept);
    // The three left serve the next host.
    const c = provider({ reuse: true, maxIdleNodes: 3 });
    expect(pidsOf(await c.provider.acquire(3))).toEqual(kept);
    await c.provider.shutdown(undefined, { reuse: false });
  });

  it('with reuse a second host gets the same processes; another runtime version or session does not', async () => {
    // Host A launches two reusable nodes and leaves them idle.
    const a = provider({ reuse: true });
    const first = await a.provider.acquire(2);
    const idlePids = pidsOf(first);
    expect(a.events.map((e) => e.how)).toEqual(['launched', 'launched']);
    await a.provider.shutdown();
    for (const node of first) {
      expect(node.state).toBe('closed');
      expect(node.exitPacket).toBe('none');
      expect(isRunning(node.pid!)).toBe(true);
    }
    expect((await listNodes({ transport: sandbox.transport, now: Date.now() })).map((n) => n.pid)).toEqual(
      idlePids,
    );
    expect((await new NodeRegistry(sandbox.directory).list(0)).map((n) => n.pid)).toEqual(idlePids);

    // Host B, same handshake: gets those very processes back.
    const b = provider({ reuse: true });
    const second = await b.provider.acquire(2);
    expect(b.events.map((e) => e.how)).toEqual(['reused', 'reused']);
    expect(pidsOf(second)).toEqual(idlePids);
    for (const node of second) {
      expect(await node.request('troupe:ping', null)).toEqual({ pid: node.pid, threadId: 0 });
    }
    await b.provider.shutdown();
    expect(sandbox.launched).toHaveLength(2);

    // Hosts whose handshake differs (runtime version, session salt) launch their own nodes.
    for (const options of [{ runtimeVersion: '0.0.9' }, { session: 'another session' }]) {
      const other = provider({ reuse: true, ...options });
      const [fresh] = await other.provider.acquire(1);
      expect(other.events.map((e) => e.how)).toEqual(['launched']);
      expect(idlePids).not.toContain(fresh!.pid);
      expect(await fresh!.request('troupe:ping', null)).toMatchObject({ pid: fresh!.pid });
      await other.provider.shutdown([fresh!], { reuse: false });
      expect(isRunning(fresh!.pid!)).toBe(false);
    }
    expect(sandbox.launched).toHaveLength(4);
    // The mismatched hosts left the idle nodes alone.
    for (const pid of idlePids) expect(isRunning(pid)).toBe(true);

    const results = await shutdownAll({ transport: sandbox.transport });
    expect(results.sort((x, y) => x.pid - y.pid)).toEqual(
      idlePids.map((pid): ShutdownAllResult => ({ pid, outcome: 'exited' })),
    );
    for (const pid of idlePids) expect(await waitUntilGone(pid)).toBe(true);
    expect(processesUsing(sandbox.directory)).toEqual([]);
    expect(await listNodes({ transport: sandbox.transport, now: Date.now() })).toEqual([]);
    expect(await readdir(sandbox.directory)).toEqual([]);
  });

  it('kill -9 of a node mid-request fails that request naming the node, its pid and the signal; the others finish', async () => {
    const { provider: host } = provider();
    const [victim, ...others] = (await host.acquire(3)) as [NodeContext, NodeContext, NodeContext];
    const shutdowns: string[] = [];
    victim.on('shutdown', (body) => shutdowns.push(body.reason));

    // Every node is running a request when the victim dies: the victim's waits until cancelled.
    const running = [victim, ...others].map((node) => logged(node, 'sleeping'));
    const doomed = victim.request(`${tasks}#sleep`, 0).then(
      () => undefined,
      (error: unknown) => error,
    );
    const fine = others.map((node) => node.request(`${tasks}#sleep`, 300));
    await Promise.all(running);

    process.kill(victim.pid!, 'SIGKILL');

    const error = await doomed;
    expect(error).toBeInstanceOf(NodeConnectionFailedError);
    const failed = error as NodeConnectionFailedError;
    expect(failed.message).toContain(victim.id);
    expect(failed.message).toContain(`pid ${victim.pid}`);
    expect(failed.message).toContain('killed by SIGKILL');
    expect(failed.nodeId).toBe(victim.id);
    expect(failed.pid).toBe(victim.pid);
    expect(failed.exit?.signal).toBe('SIGKILL');
    expect(victim.state).toBe('failed');
    expect(shutdowns).toEqual(['ConnectionFailed']);
    expect(isRunning(victim.pid!)).toBe(false);

    expect(await Promise.all(fine)).toEqual(['slept', 'slept']);
    for (const node of others)
      expect(await node.request('troupe:ping', null)).toMatchObject({ pid: node.pid });
    expect(host.nodes).not.toContain(victim);

    await host.shutdown();
    for (const node of others) expect(isRunning(node.pid!)).toBe(false);
    expect(processesUsing(sandbox.directory)).toEqual([]);
  });

  it('a node that ignores the exit packet (SIGSTOP) is killed with its child after the timeout, with a warning', async () => {
    const { provider: host } = provider({ shutdown: { exitTimeoutMs: 300, killTimeoutMs: 2_000 } });
    const warnings: NodeWarning[] = [];
    host.on('warning', (warning) => warnings.push(warning));
    const [node] = (await host.acquire(1)) as [NodeContext];
    const grandchild = (await node.request(`${tasks}#spawnGrandchild`, null)) as number;
    sandbox.pids.add(grandchild);
    expect(isRunning(grandchild)).toBe(true);

    process.kill(node.pid!, 'SIGSTOP');
    if (processState(node.pid!) !== undefined) {
      expect(await waitFor(() => processState(node.pid!) === 'T')).toBe(true);
    }

    await host.shutdown();

    expect(node.exitPacket).toBe('sent');
    expect(isRunning(node.pid!)).toBe(false);
    // The grandchild is killed with the node's process group; it may take a moment to be reaped.
    expect(await waitUntilGone(grandchild)).toBe(true);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.pid).toBe(node.pid);
    expect(warnings[0]!.nodeId).toBe(node.id);
    expect(warnings[0]!.message).toContain(`pid ${node.pid}`);
    expect(processesUsing(sandbox.directory)).toEqual([]);
  });

  it('a launch that crashes at start-up fails after the retries with its exit code and stderr', async () => {
    const { provider: host, events } = provider({
      nodeCommand: { command: process.execPath, args: [crashNode] },
      launchAttempts: 3,
    });
    const error = await host.acquire(1).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(NodeLaunchError);
    const failed = error as NodeLaunchError;
    expect(failed.attempts).toBe(3);
    expect(failed.message).toContain('exited with code 3');
    expect(failed.message).toContain('troupe-test: cannot start, missing native module xyz');
    expect(failed.exit?.code).toBe(3);
    expect(failed.stderrTail).toContain('missing native module xyz');
    expect(sandbox.launched).toHaveLength(3);
    expect(events).toEqual([]);
    for (const pid of sandbox.launched) expect(isRunning(pid)).toBe(false);
    expect(await readdir(sandbox.directory)).toEqual([]);
  });

  it('runs at a lowered OS priority when asked', async () => {
    const { provider: host } = provider({ lowPriority: true });
    const [node] = (await host.acquire(1)) as [NodeContext];
    expect(getPriority(node.pid!)).toBeGreaterThan(getPriority(process.pid));
    await host.shutdown();
    expect(isRunning(node.pid!)).toBe(false);
  });
});
