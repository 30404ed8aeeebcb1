// The node's side of a connection: the node endpoint, driven by a host's node context or by a raw
// link that sends it packets one by one.
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeClosedError, TaskFailedError } from '@troupe/core';
import { NodeEndpoint, PacketType } from '@troupe/core/internal';
import { VirtualClock } from '@troupe/testing';
import { HandshakeMismatchError, type Link, MemoryTransport, PipeTransport } from '@troupe/transport';
import { createHandshake, encodeHandshake } from '@troupe/transport/internal';
import { afterEach, describe, expect, it } from 'vitest';
import { type Cleanups, endpointWorld, until } from './support/endpoint.js';

const tasks = new URL('./fixtures/inproc-tasks.mjs', import.meta.url).href;
const cleanups: Cleanups = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
const { startEndpoint, host } = endpointWorld(cleanups);

describe('node endpoint', () => {
  it('runs requests for its host and answers a ping', async () => {
    const { endpoint, transport } = await startEndpoint();
    const node = host(transport, endpoint.address);
    await node.start(process.pid);
    expect(endpoint.state).toBe('active');
    expect(await node.request('troupe:ping', null)).toEqual({ pid: process.pid, threadId: 0 });
    expect(await node.request(`${tasks}#echo`, { a: 1 })).toEqual({ a: 1 });
  });

  it('reports the identity it was given, not the real one, in NodeReady and troupe:ping', async () => {
    const transport = new MemoryTransport();
    const endpoint = await NodeEndpoint.start({ transport, identity: { pid: 4242, threadId: 7 } });
    cleanups.push(() => endpoint.exit());
    const node = host(transport, endpoint.address);
    await node.start(process.pid);
    expect(node.pid).toBe(4242);
    expect(await node.request('troupe:ping', null)).toEqual({ pid: 4242, threadId: 7 });
  });

  it('reports a failing task with its message and code, and keeps serving', async () => {
    const { endpoint, transport } = await startEndpoint();
    const node = host(transport, endpoint.address);
    await node.start(process.pid);
    const error = await node.request(`${tasks}#fail`, 'x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskFailedError);
    expect((error as TaskFailedError).message).toContain('failed on purpose: x');
    expect((error as TaskFailedError).remoteCode).toBe('E_ON_PURPOSE');
    expect(await node.request('troupe:ping', null)).toBeTruthy();
  });

  it('forwards task logs to the host', async () => {
    const { endpoint, transport } = await startEndpoint();
    const node = host(transport, endpoint.address);
    const logs: string[] = [];
    node.on('log', (log) => logs.push(log.message));
    await node.start(process.pid);
    await node.request(`${tasks}#echo`, 7);
    expect(logs).toEqual(['echo 7']);
  });

  it('cancels a running request when its signal aborts', async () => {
    const { endpoint, transport } = await startEndpoint();
    const node = host(transport, endpoint.address);
    await node.start(process.pid);
    const controller = new AbortController();
    const pending = node.request(`${tasks}#waitForCancel`, null, { signal: controller.signal });
    await until(() => endpoint.running === 1, 'the request to start');
    controller.abort(new Error('stop'));
    await expect(pending).rejects.toThrow('stop');
    await until(() => endpoint.running === 0, 'the node to drop the request');
  });

  it('refuses a stranger with another handshake and goes on waiting for its host', async () => {
    const { endpoint, transport, logs } = await startEndpoint();
    const stranger = await transport
      .connect(endpoint.address, { handshake: { runtimeVersion: '9.9.9' } })
      .catch((error: unknown) => error);
    expect(stranger).toBeInstanceOf(HandshakeMismatchError);
    await until(() => logs.some((line) => line.includes('runtime version')), 'the refusal to be logged');
    expect(endpoint.state).toBe('waiting');
    const node = host(transport, endpoint.address);
    await node.start(process.pid);
    expect(await node.request('troupe:ping', null)).toBeTruthy();
  });

  it('closes a link whose first packet is not NodeConfiguration, and keeps waiting', async () => {
    const { endpoint, transport, logs } = await startEndpoint();
    const link: Link = await transport.connect(endpoint.address);
    link.send(PacketType.BuildRequest, { id: 'r1', task: 'troupe:ping', input: null });
    const info = await link.closed;
    expect(info.reason).not.toBe('closed');
    expect(logs.join('\n')).toMatch(/NodeConfiguration first/);
    expect(endpoint.state).toBe('waiting');
  });

  it('closes a link that sends an unknown packet type, and keeps waiting', async () => {
    const { endpoint, transport, logs } = await startEndpoint();
    const link = await transport.connect(endpoint.address);
    link.send(99, { what: 'ever' });
    await link.closed;
    expect(logs.join('\n')).toMatch(/unknown packet type 99/);
    expect(endpoint.state).toBe('waiting');
  });

  it('survives garbage, an absurd length and a truncated frame from strangers on a socket', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'troupe-endpoint-'));
    cleanups.push(() => rm(directory, { recursive: true, force: true }));
    const transport = new PipeTransport({ directory });
    const { endpoint, logs } = await startEndpoint(transport);
    const block = encodeHandshake(createHandshake());
    const absurd = Buffer.from([PacketType.BuildRequest, 0xff, 0xff, 0xff, 0x7f]);
    const truncated = Buffer.from([PacketType.NodeConfiguration, 100, 0, 0, 0, 1, 2, 3]);
    for (const payload of [
      Buffer.from('GET / HTTP/1.1\r\nHost: localhost:1234\r\nAccept: */*\r\n\r\n'),
      Buffer.concat([block, absurd]),
      Buffer.concat([block, truncated]),
    ]) {
      await new Promise<void>((resolve) => {
        const socket = netConnect(endpoint.address);
        socket.on('error', () => {});
        socket.on('close', () => resolve());
        socket.on('connect', () => {
          socket.end(payload);
          socket.resume();
        });
      });
    }
    await until(() => logs.length >= 3, 'three refusals to be logged');
    expect(logs.join('\n')).toMatch(/magic/);
    expect(logs.join('\n')).toMatch(/TROUPE_FRAME_TOO_LARGE|over this link's maximum/);
    expect(logs.join('\n')).toMatch(/inside a frame/);
    expect(endpoint.state).toBe('waiting');
    const node = host(transport, endpoint.address);
    await node.start(process.pid);
    expect(await node.request('troupe:ping', null)).toBeTruthy();
  });

  it('gives an idle node to exactly one of two racing hosts; the other hears Busy', async () => {
    const { endpoint, transport } = await startEndpoint();
    const a = host(transport, endpoint.address);
    const b = host(transport, endpoint.address);
    const outcomes = await Promise.allSettled([a.start(process.pid), b.start(process.pid)]);
    const won = outcomes.filter((o) => o.status === 'fulfilled');
    const lost = outcomes.filter((o) => o.status === 'rejected') as PromiseRejectedResult[];
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.reason).toBeInstanceOf(NodeClosedError);
    expect(String(lost[0]!.reason.message)).toMatch(/Busy/);
    expect(endpoint.state).toBe('active');
  });

  it('after NodeBuildComplete with reuse it goes idle and serves the next host', async () => {
    const { endpoint, transport } = await startEndpoint();
    const first = host(transport, endpoint.address);
    await first.start(process.pid);
    await first.close({ reuse: true });
    await until(() => endpoint.state === 'idle', 'the node to go idle');
    const second = host(transport, endpoint.address);
    await second.start(process.pid);
    expect(endpoint.state).toBe('active');
    expect(await second.request('troupe:ping', null)).toBeTruthy();
  });

  it('after NodeBuildComplete without reuse it finishes writing and exits', async () => {
    const { endpoint, transport } = await startEndpoint();
    const node = host(transport, endpoint.address);
    await node.start(process.pid);
    await node.close({ reuse: false });
    expect(node.exitPacket).toBe('sent');
    expect(node.state).toBe('closed');
    await endpoint.exited;
    expect(endpoint.state).toBe('exiting');
    expect(() => node.send('Cancel', { id: 'x' })).toThrow(NodeClosedError);
  });

  it('an idle node exits after its idle timeout, and failed handshakes do not reset the timer', async () => {
    const clock = new VirtualClock();
    const transport = new MemoryTransport();
    const endpoint = await NodeEndpoint.start({ transport, idleTimeoutMs: 200, clock });
    cleanups.push(() => endpoint.exit());
    let exited = false;
    void endpoint.exited.then(() => {
      exited = true;
    });
    // Strangers knock at 100 and 150 ms: their handshakes fail, and the node's idle clock runs on.
    for (const at of [100, 50]) {
      clock.advance(at);
      await expect(
        transport.connect(endpoint.address, { handshake: { session: 'stranger' } }),
      ).rejects.toThrow();
    }
    expect(exited).toBe(false);
    clock.advance(50);
    await until(() => exited, 'the node to exit at 200 ms');
    expect(endpoint.state).toBe('exiting');
  });
});

describe('node endpoint: staged requests', () => {
  it('runs requests one at a time: one sent while another is active starts when it leaves', async () => {
    const { endpoint, transport } = await startEndpoint();
    const link = await transport.connect(endpoint.address, {});
    const seen: string[] = [];
    link.on('packet', (type, body) => {
      const b = body as { id?: string; message?: string; value?: unknown; ok?: boolean };
      if (type === PacketType.Log) seen.push(b.message!);
      if (type === PacketType.BuildResult)
        seen.push(`result ${b.id} ${b.ok ? JSON.stringify(b.value) : 'failed'}`);
    });
    link.send(PacketType.NodeConfiguration, { nodeId: 'host', hostPid: 1, nodeReuse: false, incarnation: 1 });
    link.send(PacketType.BuildRequest, { id: 'r1', task: `${tasks}#waitForCancel`, input: null });
    link.send(PacketType.BuildRequest, { id: 'r2', task: `${tasks}#echo`, input: 'second' });
    link.send(PacketType.BuildRequest, { id: 'r3', task: `${tasks}#echo`, input: 'third' });
    link.send(PacketType.Cancel, { id: 'r3', reason: 'not needed' });
    await until(() => seen.includes('result r3 failed'), 'the staged request to be cancelled');
    // r2 is staged behind r1, which waits: nothing of r2 has run.
    expect(seen).toEqual(['result r3 failed']);
    link.send(PacketType.Cancel, { id: 'r1' });
    await until(() => seen.length === 4, 'r1 to end and r2 to run');
    expect(seen).toEqual([
      'result r3 failed',
      'result r1 "cancelled"',
      'echo "second"',
      'result r2 "second"',
    ]);
    await link.close();
  });
});

describe('node endpoint: many small tasks', () => {
  async function hostLink() {
    const { endpoint, transport } = await startEndpoint();
    const link = await transport.connect(endpoint.address, {});
    const results = new Map<string, { ok: boolean; value?: unknown; error?: { message: string } }>();
    link.on('packet', (type, body) => {
      const b = body as { id: string; ok: boolean; value?: unknown; error?: { message: string } };
      if (type === PacketType.BuildResult) results.set(b.id, b);
    });
    link.send(PacketType.NodeConfiguration, { nodeId: 'host', hostPid: 1, nodeReuse: false, incarnation: 1 });
    cleanups.push(() => link.close());
    // Resolves once the node has handled everything sent before: a request staged behind the
    // active one and cancelled is answered at once, and the link is one ordered stream.
    let probes = 0;
    const handled = async () => {
      const id = `probe${++probes}`;
      link.send(PacketType.BuildRequest, { id, task: `${tasks}#quick`, input: null });
      link.send(PacketType.Cancel, { id });
      await until(() => results.has(id), 'the node to handle what was sent');
    };
    return { link, results, handled };
  }

  it('runs twenty thousand quick tasks staged behind a waiting one, in order, without running out of stack', async () => {
    const { link, results } = await hostLink();
    link.send(PacketType.BuildRequest, { id: 'first', task: `${tasks}#waitForCancel`, input: null });
    const count = 20_000;
    for (let i = 0; i < count; i++)
      link.send(PacketType.BuildRequest, { id: `q${i}`, task: `${tasks}#quick`, input: i });
    // All staged behind `first` (the link is one ordered stream); releasing it runs them back to
    // back in one loop.
    link.send(PacketType.Cancel, { id: 'first' });
    await until(() => results.size === count + 1, 'every request to be answered');
    expect(results.get('first')).toMatchObject({ ok: true, value: 'cancelled' });
    for (let i = 0; i < count; i++) expect(results.get(`q${i}`)).toMatchObject({ ok: true, value: i });
  });

  it('a task that reads its signal only after a cancel arrived sees it aborted, with the reason', async () => {
    const { link, results, handled } = await hostLink();
    link.send(PacketType.BuildRequest, { id: 'p', task: `${tasks}#parked`, input: null });
    link.send(PacketType.Cancel, { id: 'p', reason: 'not needed any more' });
    await handled();
    expect(results.has('p')).toBe(false);
    (globalThis as { __troupeRelease?: () => void }).__troupeRelease?.();
    await until(() => results.has('p'), 'the parked task to end');
    expect(results.get('p')).toMatchObject({ ok: true, value: 'aborted: not needed any more' });
  });

  it('a task cancelled before it asks to build (never having read its signal) fails with the cancel', async () => {
    const { link, results, handled } = await hostLink();
    link.send(PacketType.BuildRequest, { id: 'b', task: `${tasks}#buildWhenWoken`, input: null });
    link.send(PacketType.Cancel, { id: 'b', reason: 'stop now' });
    await handled();
    (globalThis as { __troupeWake?: () => void }).__troupeWake?.();
    await until(() => results.has('b'), 'the cancelled task to end');
    expect(results.get('b')).toMatchObject({ ok: false, error: { message: 'stop now' } });
  });

  it('a task id that names an Object.prototype member is not mistaken for a built-in', async () => {
    const { link, results } = await hostLink();
    // Waited for by its packet, not a count of turns: a bare name is looked up as a package, from
    // the node's working directory, which takes file-system time that a loaded machine stretches.
    const answered = new Promise<void>((resolve) =>
      link.on('packet', (type) => {
        if (type === PacketType.BuildResult) resolve();
      }),
    );
    link.send(PacketType.BuildRequest, { id: 't', task: 'toString', input: null });
    await answered;
    expect(results.get('t')?.ok).toBe(false);
  });
});

describe('node endpoint: a reusable node that loses its host', () => {
  it('goes idle when its host vanishes, then exits after its idle timeout', async () => {
    const { endpoint, transport } = await startEndpoint(new MemoryTransport(), 100);
    // A host that presents itself for reuse and then disappears without a word.
    const link = await transport.connect(endpoint.address, {});
    const ready = new Promise<void>((resolve) => link.on('packet', () => resolve()));
    link.send(PacketType.NodeConfiguration, {
      nodeId: 'vanishing',
      hostPid: 1,
      nodeReuse: true,
      incarnation: 1,
    });
    await ready;
    expect(endpoint.state).toBe('active');
    await link.destroy();
    await until(() => endpoint.state === 'idle', 'the node to go idle');
    await endpoint.exited;
    expect(endpoint.state).toBe('exiting');
  });
});
