import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  isPidAlive,
  listNodes,
  NodeConnectionFailedError,
  type NodeContext,
  NodeLaunchError,
  type NodeWarning,
  ProcessNodeProvider,
  type ProcessNodeProviderOptions,
  shutdownAll,
} from '@troupe/core';
import { PipeTransport } from '@troupe/transport';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const tasks = new URL('./fixtures/process-tasks.mjs', import.meta.url).href;
const crashNode = new URL('./fixtures/crash-node.mjs', import.meta.url).pathname;
const bin = new URL('../bin/troupe.js', import.meta.url).pathname;

let directory: string;
let transport: PipeTransport;
const pids = new Set<number>();
const providers: ProcessNodeProvider[] = [];

function provider(options: ProcessNodeProviderOptions = {}): ProcessNodeProvider {
  const created = new ProcessNodeProvider({ transport, ...options });
  created.on('node', (node) => {
    if (node.pid) pids.add(node.pid);
  });
  providers.push(created);
  return created;
}

/** Waits (bounded) until the process table no longer has `pid`. */
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 500 && isPidAlive(pid); i++) await new Promise((resolve) => setTimeout(resolve, 20));
  return !isPidAlive(pid);
}

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'troupe-nodes-'));
  transport = new PipeTransport({ directory });
});

afterEach(async () => {
  // Whatever a failed test left behind: ask politely, then kill every process group we saw.
  await Promise.all(providers.splice(0).map((p) => p.shutdown(undefined, { reuse: false }).catch(() => {})));
  await shutdownAll({ transport }).catch(() => {});
  for (const pid of pids) {
    for (const target of [-pid, pid]) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
  pids.clear();
  await rm(directory, { recursive: true, force: true });
});

describe('process nodes', () => {
  it('acquires 4 nodes, pings each, and leaves no process or file behind after shutdown', async () => {
    const nodes = await provider().acquire(4);
    const pongs = (await Promise.all(nodes.map((node) => node.request('troupe:ping', null)))) as Array<{
      pid: number;
    }>;
    expect(new Set(pongs.map((p) => p.pid)).size).toBe(4);
    expect(pongs.map((p) => p.pid)).toEqual(nodes.map((node) => node.pid));
    expect(pongs.every((p) => p.pid !== process.pid)).toBe(true);
    await providers[0]!.shutdown();
    for (const node of nodes) {
      expect(node.state).toBe('closed');
      expect(node.exitPacket).toBe('sent');
      expect(await gone(node.pid!)).toBe(true);
    }
    expect(await readdir(directory)).toEqual([]);
  });

  it('with reuse, a second host gets the same processes back; another version or salt does not', async () => {
    const first = provider({ reuse: true });
    const launched = await first.acquire(2);
    const launchedPids = launched.map((node) => node.pid).sort();
    await first.shutdown();
    expect((await listNodes({ transport, now: 0 })).map((n) => n.pid).sort()).toEqual(launchedPids);

    const second = provider({ reuse: true });
    const how: string[] = [];
    second.on('node', (_node, h) => how.push(h));
    const reused = await second.acquire(2);
    expect(how).toEqual(['reused', 'reused']);
    expect(reused.map((node) => node.pid).sort()).toEqual(launchedPids);
    expect(await reused[0]!.request('troupe:ping', null)).toEqual({ pid: reused[0]!.pid, threadId: 0 });
    await second.shutdown();

    for (const options of [{ runtimeVersion: '0.0.9' }, { session: 'another session' }]) {
      const other = provider({ reuse: true, ...options });
      const fresh = await other.acquire(1);
      expect(launchedPids).not.toContain(fresh[0]!.pid);
      await other.shutdown(fresh, { reuse: false });
    }
    const results = await shutdownAll({ transport });
    expect(results.map((r) => r.outcome)).toEqual(['exited', 'exited']);
    for (const pid of launchedPids) expect(await gone(pid!)).toBe(true);
  });

  it('a node killed with SIGKILL mid-request fails that request, naming the node and the signal; the others finish', async () => {
    const nodes = await provider().acquire(3);
    const [victim, ...others] = nodes as [NodeContext, ...NodeContext[]];
    const doomed = victim.request(`${tasks}#sleep`, 0);
    const fine = others.map((node) => node.request(`${tasks}#sleep`, 50));
    await victim.request('troupe:ping', null);
    process.kill(victim.pid!, 'SIGKILL');
    const error = await doomed.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NodeConnectionFailedError);
    expect((error as Error).message).toContain(victim.id);
    expect((error as Error).message).toContain(`pid ${victim.pid}`);
    expect((error as Error).message).toContain('SIGKILL');
    expect(await Promise.all(fine)).toEqual(['slept', 'slept']);
    expect(victim.state).toBe('failed');
  });

  it('a node that ignores the exit packet is killed with its children after the timeout, with a warning', async () => {
    const stubborn = provider({ shutdown: { exitTimeoutMs: 300, killTimeoutMs: 5_000 } });
    const warnings: NodeWarning[] = [];
    stubborn.on('warning', (warning) => warnings.push(warning));
    const [node] = await stubborn.acquire(1);
    const grandchild = (await node!.request(`${tasks}#spawnGrandchild`, null)) as number;
    pids.add(grandchild);
    expect(isPidAlive(grandchild)).toBe(true);
    process.kill(node!.pid!, 'SIGSTOP');
    await stubborn.shutdown();
    expect(await gone(node!.pid!)).toBe(true);
    expect(await gone(grandchild)).toBe(true);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.pid).toBe(node!.pid);
    expect(warnings[0]!.message).toContain(`pid ${node!.pid}`);
  });

  it('a launch that crashes at start-up fails after the retries with the exit code and stderr', async () => {
    const broken = provider({
      nodeCommand: { command: process.execPath, args: [crashNode] },
      launchAttempts: 3,
    });
    const error = await broken.acquire(1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NodeLaunchError);
    expect((error as NodeLaunchError).attempts).toBe(3);
    expect((error as Error).message).toContain('exited with code 3');
    expect((error as Error).message).toContain('missing native module xyz');
    expect(await readdir(directory)).toEqual([]);
  });

  it('runs at lowered OS priority when asked', async () => {
    const [node] = await provider({ lowPriority: true }).acquire(1);
    expect(getPriority(node!.pid!)).toBeGreaterThan(getPriority(process.pid));
  });
});

describe('troupe command', () => {
  function run(args: string[], until: 'exit' | 'line') {
    const child = spawn(process.execPath, [bin, ...args], {
      env: { ...process.env, TROUPE_SOCKET_DIR: directory },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (child.pid) pids.add(child.pid);
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    return new Promise<{ out: string; code: number | null; child: typeof child }>((resolve) => {
      if (until === 'line') {
        child.stdout.on('data', () => {
          if (out.includes('\n')) resolve({ out, code: null, child });
        });
      }
      child.on('exit', (code) => resolve({ out, code, child }));
    });
  }

  it('troupe node prints one JSON line with its address, for pipes and for TCP', async () => {
    const pipe = await run(['node', '--listen', 'pipe', '--idle-timeout', '60000'], 'line');
    const line = JSON.parse(pipe.out.trim()) as { event: string; address: string };
    expect(line.event).toBe('listening');
    expect(line.address).toBe(join(directory, `troupe-node-${pipe.child.pid}.sock`));
    const tcp = await run(['node', '--listen', 'tcp://127.0.0.1:0', '--idle-timeout', '60000'], 'line');
    expect((JSON.parse(tcp.out.trim()) as { address: string }).address).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    for (const { child } of [pipe, tcp]) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  });

  it('troupe nodes list shows idle reusable nodes by pid, and troupe nodes shutdown ends them', async () => {
    const nodes = await provider({ reuse: true }).acquire(2);
    await providers[0]!.shutdown();
    const listed = await run(['nodes', 'list'], 'exit');
    const lines = listed.out.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines.map((l) => Number(l.split('\t')[0])).sort()).toEqual(nodes.map((n) => n.pid).sort());
    expect(lines[0]).toMatch(/runtime 0\.1\.0/);
    const shutdown = await run(['nodes', 'shutdown'], 'exit');
    expect(shutdown.code).toBe(0);
    for (const node of nodes) expect(await gone(node.pid!)).toBe(true);
  });
});
