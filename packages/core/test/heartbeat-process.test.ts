// Heartbeats and fencing on real processes over loopback TCP: two `troupe node --reuse` processes
// started by the test (static endpoints: the host cannot kill them), one SIGSTOPped while it runs a
// request, past the heartbeat timeout, then resumed: it is declared lost, its work runs on the
// other node, and the result it sends once resumed is fenced off.
import { type ChildProcess, spawn } from 'node:child_process';
import { createRuntime, type Runtime } from '@troupe/core';
import { createIdSource } from '@troupe/core/internal';
import { StaticEndpointProvider } from '@troupe/testing/internal';
import { systemClock, TcpTransport } from '@troupe/transport';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanupSandbox, createSandbox, processState, type Sandbox, waitFor } from './support/processes.js';

const bin = new URL('../bin/troupe.js', import.meta.url).pathname;
const slowEcho = `${new URL('./fixtures/heartbeat-tasks.mjs', import.meta.url).href}#slowEcho`;

let sandbox: Sandbox;
let runtime: Runtime | undefined;
const stopped = new Set<number>();
beforeEach(async () => {
  sandbox = await createSandbox();
});
afterEach(async () => {
  for (const pid of stopped) process.kill(pid, 'SIGCONT');
  stopped.clear();
  await runtime?.shutdown();
  runtime = undefined;
  await cleanupSandbox(sandbox);
});

/** Starts `troupe node --listen tcp://127.0.0.1:0 --insecure --reuse`; resolves with its address. */
async function staticNode(): Promise<{ child: ChildProcess; address: string }> {
  const child = spawn(
    process.execPath,
    [bin, 'node', '--listen', 'tcp://127.0.0.1:0', '--insecure', '--reuse', '--idle-timeout', '60000'],
    { env: sandbox.env, stdio: ['pipe', 'pipe', 'pipe'], detached: true },
  );
  sandbox.pids.add(child.pid!);
  let out = '';
  let err = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
    });
    child.once('close', (code) => reject(new Error(`troupe node ended (${code}) before listening:\n${err}`)));
  });
  return { child, address: (JSON.parse(line) as { address: string }).address };
}

describe('heartbeats on real processes', () => {
  it('a node SIGSTOPped past the timeout is declared lost, its work runs elsewhere, and its late result is fenced', async () => {
    const nodes = await Promise.all([staticNode(), staticNode()]);
    const provider = new StaticEndpointProvider({
      transport: new TcpTransport(),
      clock: systemClock,
      ids: createIdSource(),
      endpoints: nodes.map(({ address }, at) => ({ name: `static-${at + 1}`, address })),
      hostPid: process.pid,
      link: { insecure: true },
    });
    runtime = createRuntime({ nodes: { provider, max: 2, heartbeat: { intervalMs: 100, timeoutMs: 800 } } });
    const pidOf = new Map<string, number>();
    runtime.on('node', (node) => pidOf.set(node.id, node.pid!));
    const fenced: Array<{ node: string; incarnation: number; type: string; requestId: string }> = [];
    runtime.on('fenced', (node, packet) =>
      fenced.push({ node: node.id, incarnation: node.incarnation, ...packet }),
    );
    const lost: string[] = [];
    const completed = new Map<string, number>();
    runtime.on('request', (request, _from, to) => {
      if (to === 'completed') completed.set(request.id, (completed.get(request.id) ?? 0) + 1);
    });
    // The first node to start a request is stopped at once, with the request's timer running.
    let victim: string | undefined;
    runtime.on('log', (entry) => {
      if (victim !== undefined || !entry.message.startsWith('started')) return;
      victim = entry.node;
      const pid = pidOf.get(victim)!;
      stopped.add(pid);
      process.kill(pid, 'SIGSTOP');
    });
    runtime.on('node.lost', (node) => {
      lost.push(node.id);
      // Resumed as soon as the host has given up on it: its request's timer has long expired, so
      // its result goes out before it reads that its host closed the link.
      const pid = pidOf.get(node.id)!;
      if (stopped.delete(pid)) process.kill(pid, 'SIGCONT');
    });

    const inputs = ['a', 'b', 'c', 'd'].map((id) => ({ id, ms: 300 }));
    const values = await runtime.build(
      inputs.map((input) => ({ task: slowEcho, input, retry: { attempts: 1 } })),
    );
    expect(values).toEqual(inputs.map(({ id }) => `${id} done`));
    expect(lost).toEqual([victim]);
    expect([...completed.values()].every((count) => count === 1)).toBe(true);
    expect(completed.size).toBe(inputs.length);
    // The resumed node's late result, fenced: from its first incarnation, for a request that ran again.
    expect(await waitFor(() => fenced.length > 0, 5_000)).toBe(true);
    expect(fenced).toEqual([
      { node: victim, incarnation: 1, type: 'BuildResult', requestId: expect.any(String) },
    ]);
    expect(completed.has(fenced[0]!.requestId)).toBe(true);
    // Resumed, the node let its old host go and waits for the next (it is a --reuse node).
    const victimPid = pidOf.get(victim!)!;
    expect(processState(victimPid)).not.toBe('T');
  }, 30_000);
});
