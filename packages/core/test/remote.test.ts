// Remote nodes on loopback, with real processes: launched through a real launcher prefix (a shell
// that stays the nodes' parent, as ssh does), and static endpoints started by the test. Values
// are checked against a reference; every process the test caused is gone at the end (the process
// table says so, not the host's handles). Network namespaces and ssh are test/remote's.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  createRuntime,
  NodeContext,
  RemoteNodeError,
  RemoteNodeProvider,
  type RemoteNodeProviderOptions,
} from '@troupe/core';
import { tcpSalt } from '@troupe/core/internal';
import { TcpTransport } from '@troupe/transport';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  cleanupSandbox,
  createSandbox,
  isRunning,
  type Sandbox,
  waitFor,
  waitUntilGone,
} from './support/processes.js';

const tasks = new URL('./fixtures/remote-tasks.mjs', import.meta.url).href;
const bin = fileURLToPath(new URL('../bin/troupe.js', import.meta.url));
/** A launcher that stays the node's parent and hands it its stdin, as `ssh host --` does. */
const SHELL_PREFIX = ['sh', '-c', '"$@"', 'sh'];
const SECRET = 'remote test secret';

let sandbox: Sandbox;
const cleanups: Array<() => void> = [];

beforeEach(async () => {
  sandbox = await createSandbox();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) cleanup();
  await cleanupSandbox(sandbox);
});

function remote(options: RemoteNodeProviderOptions): RemoteNodeProvider {
  return new RemoteNodeProvider({ launcher: sandbox.launcher, connectTimeoutMs: 15_000, ...options });
}

/** `troupe node` started by the test (a static endpoint, or a node to misbehave at). */
function startNode(args: string[], env: Record<string, string> = {}) {
  const child: ChildProcess = spawn(process.execPath, [bin, 'node', ...args], {
    env: { ...sandbox.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid) sandbox.pids.add(child.pid);
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const listening = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', () => {
      const line = stdout.split('\n')[0];
      if (stdout.includes('\n') && line) resolve((JSON.parse(line) as { address: string }).address);
    });
    child.once('close', (code) => reject(new Error(`ended (${code}) before listening:\n${stderr}`)));
  });
  listening.catch(() => {});
  return { child, listening, stderr: () => stderr };
}

/** A static endpoint: `troupe node --reuse` on loopback with the test's secret. */
function startEndpoint(extra: string[] = []) {
  return startNode(
    [
      '--listen',
      'tcp://127.0.0.1:0',
      '--reuse',
      '--secret-env',
      'SECRET',
      '--idle-timeout',
      '60000',
      ...extra,
    ],
    { SECRET },
  );
}

const squares = (n: number) => (n * (n + 1) * (2 * n + 1)) / 6;

describe('launched remote nodes', () => {
  it('start through a prefix, build a graph to the reference value, and end with the launcher session', async () => {
    const provider = remote({ launch: [{ prefix: SHELL_PREFIX, nodes: 2 }] });
    const nodes = await provider.acquire(2);
    expect(nodes.map((node) => [node.kind, node.location])).toEqual([
      ['remote', SHELL_PREFIX.join(' ')],
      ['remote', SHELL_PREFIX.join(' ')],
    ]);
    const launchers = nodes.map((node) => node.process!.pid);
    const pids = nodes.map((node) => node.pid!);
    // The node is the launcher's child (a session of its own), not the launcher itself.
    for (const [index, pid] of pids.entries()) {
      sandbox.pids.add(pid);
      expect(pid).not.toBe(launchers[index]);
      // The fresh secret reached it over stdin, never through argv.
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      expect(argv).toContain('--secret-stdin');
      expect(argv).not.toMatch(/--secret-env|--secret-file/);
    }
    for (const [index, node] of nodes.entries()) {
      expect(await node.request(`${tasks}#square`, index + 3)).toEqual({
        value: (index + 3) ** 2,
        pid: pids[index],
      });
    }
    await provider.shutdown();
    for (const pid of [...pids, ...launchers]) expect(await waitUntilGone(pid)).toBe(true);
    expect(provider.nodes).toEqual([]);
  });

  it('a runtime of remote nodes builds what an in-process runtime builds', async () => {
    const runtime = createRuntime({
      nodes: {
        kind: 'remote',
        launch: [{ prefix: ['env', '--'], nodes: 2 }],
        process: { launcher: sandbox.launcher },
      },
    });
    const reference = createRuntime({ nodes: { kind: 'inproc', max: 2 } });
    try {
      const [remoteTotal, localTotal] = await Promise.all([
        runtime.build({ task: `${tasks}#sumOfSquares`, input: 30 }),
        reference.build({ task: `${tasks}#sumOfSquares`, input: 30 }),
      ]);
      expect(remoteTotal).toBe(localTotal);
      expect(remoteTotal).toBe(squares(30));
    } finally {
      await Promise.all([runtime.shutdown(), reference.shutdown()]);
    }
    for (const pid of sandbox.launched) expect(await waitUntilGone(pid)).toBe(true);
  });

  it('a mixed pool of 1 local and 2 remote nodes spreads the work and sums to the reference', async () => {
    const adopted: NodeContext[] = [];
    const runtime = createRuntime({
      nodes: {
        kind: 'remote',
        local: 1,
        launch: [{ prefix: SHELL_PREFIX, nodes: 2 }],
        process: { launcher: sandbox.launcher, env: sandbox.env },
      },
    });
    runtime.on('node', (node) => adopted.push(node));
    try {
      const parts = (await runtime.build(
        Array.from({ length: 24 }, (_, i) => ({ task: `${tasks}#square`, input: i + 1 })),
      )) as Array<{ value: number; pid: number }>;
      expect(parts.map((part) => part.value)).toEqual(Array.from({ length: 24 }, (_, i) => (i + 1) ** 2));
      expect(adopted.map((node) => node.location).sort()).toEqual([
        'local',
        'sh -c "$@" sh',
        'sh -c "$@" sh',
      ]);
      const ran = new Set(parts.map((part) => part.pid));
      for (const node of adopted) sandbox.pids.add(node.pid!);
      expect([...ran].every((pid) => adopted.some((node) => node.pid === pid))).toBe(true);
    } finally {
      await runtime.shutdown();
    }
    for (const node of adopted) expect(await waitUntilGone(node.pid!)).toBe(true);
  });

  it('a node that dies is dropped with its launcher, and its place takes a new node', async () => {
    const provider = remote({ launch: [{ prefix: SHELL_PREFIX }] });
    const [first] = await provider.acquire(1);
    const launcher = first!.process!.pid;
    sandbox.pids.add(first!.pid!);
    process.kill(first!.pid!, 'SIGKILL');
    await first!.whenClosed;
    expect(first!.state).toBe('failed');
    expect(await waitUntilGone(launcher)).toBe(true);
    const [second] = await provider.acquire(1);
    sandbox.pids.add(second!.pid!);
    expect(second!.pid).not.toBe(first!.pid);
    expect(await second!.request(`${tasks}#square`, 6)).toEqual({ value: 36, pid: second!.pid });
    expect(provider.nodes).toEqual([second]);
    await provider.shutdown();
    expect(await waitUntilGone(second!.pid!)).toBe(true);
  });

  it('a node started with --secret-stdin reads its secret there and ends when stdin does', async () => {
    const child = spawn(process.execPath, [bin, 'node', '--listen', 'tcp://127.0.0.1:0', '--secret-stdin'], {
      env: sandbox.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    sandbox.pids.add(child.pid!);
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    child.stdin!.write(`${SECRET}\n`);
    const line = await new Promise<{ address: string; addresses: string[] }>((resolve) =>
      child.stdout!.once('data', (chunk: Buffer) => resolve(JSON.parse(chunk.toString().split('\n')[0]!))),
    );
    expect(line.addresses).toEqual([line.address]);
    const node = new NodeContext({
      id: 'node-by-hand',
      kind: 'remote',
      connect: (onLink) =>
        new TcpTransport().connect(line.address, {
          handshake: { nodeReuse: false, lowPriority: false, salt: tcpSalt() },
          secret: SECRET,
          onLink,
        }),
    });
    await node.start(process.pid);
    expect(await node.request('troupe:ping', null)).toEqual({ pid: child.pid, threadId: 0 });
    // The session ends while the host still holds the node: the node goes, and the host hears it.
    child.stdin!.end();
    expect(await exited).toBe(0);
    expect(stderr).toMatch(/stdin ended \(the launcher session is gone\): exiting/);
    await node.whenClosed;
  });

  it('a launcher that exits early, or never prints a listening line, is named with why', async () => {
    const failing = remote({
      launch: [{ prefix: ['sh', '-c', 'echo cannot reach build-02 >&2; exit 3', 'sh'] }],
    });
    const error = await failing.acquire(1).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RemoteNodeError);
    expect((error as Error).message).toMatch(
      /^remote node node-\S+ \(sh -c echo cannot reach build-02 >&2; exit 3 sh\): the launcher exited with code 3 before the node printed its listening line\n--- stderr \(tail\) ---\ncannot reach build-02$/,
    );
    await expect(
      remote({ launch: [{ prefix: ['no-such-launcher-here', '--'] }] }).acquire(1),
    ).rejects.toThrow(
      /\(no-such-launcher-here --\): the launcher could not be started \(spawn no-such-launcher-here ENOENT\)/,
    );
    const silent = remote({
      launch: [{ prefix: ['sh', '-c', 'exec sleep 30', 'sh'] }],
      connectTimeoutMs: 300,
    });
    await expect(silent.acquire(1)).rejects.toThrow(
      /\(sh -c exec sleep 30 sh\): no listening line within 300 ms/,
    );
    for (const pid of sandbox.launched) expect(await waitUntilGone(pid)).toBe(true);
  });
});

describe('static endpoints', () => {
  it('serve two hosts in turn, and go back to waiting after each', async () => {
    const endpoint = startEndpoint();
    const address = await endpoint.listening;
    for (const input of [5, 9]) {
      const runtime = createRuntime({ nodes: { kind: 'remote', endpoints: [address], secret: SECRET } });
      try {
        expect(await runtime.build({ task: `${tasks}#sumOfSquares`, input })).toBe(squares(input));
      } finally {
        await runtime.shutdown();
      }
    }
    expect(isRunning(endpoint.child.pid!)).toBe(true);
    expect(endpoint.stderr()).toMatch(/state: idle[\s\S]*state: active[\s\S]*state: idle/);
  });

  it('a busy endpoint refuses a second host, who takes the next endpoint', async () => {
    const [first, second] = [startEndpoint(), startEndpoint()];
    const endpoints = [await first.listening, await second.listening];
    const holder = remote({ endpoints: [endpoints[0]!], secret: SECRET });
    const [held] = await holder.acquire(1);
    expect(held!.location).toBe(endpoints[0]);
    const other = remote({ endpoints, secret: SECRET });
    const [taken] = await other.acquire(1);
    expect(taken!.location).toBe(endpoints[1]);
    expect(taken!.pid).toBe(second.child.pid);
    const onlyBusy = remote({ endpoints: [endpoints[0]!], secret: SECRET });
    await expect(onlyBusy.acquire(1)).rejects.toThrow(
      new RegExp(`\\(${endpoints[0]}\\): it is serving another host \\(busy\\)`),
    );
    await Promise.all([holder.shutdown(), other.shutdown()]);
    // Released, the first serves the host it refused.
    const [later] = await onlyBusy.acquire(1);
    expect(await later!.request(`${tasks}#square`, 4)).toEqual({ value: 16, pid: first.child.pid });
    await onlyBusy.shutdown();
  });

  it('a wrong secret, a version mismatch and garbage are refused, logged, and the node keeps serving', async () => {
    const endpoint = startEndpoint();
    const address = await endpoint.listening;
    await expect(remote({ endpoints: [address], secret: 'wrong' }).acquire(1)).rejects.toThrow(
      new RegExp(
        `^remote node node-\\S+ \\(${address}\\): wrong secret: the node and this host do not share one`,
      ),
    );
    const version = await remote({ endpoints: [address], secret: SECRET, runtimeVersion: '9.9.9' })
      .acquire(1)
      .catch((error: Error) => error);
    expect(version).toBeInstanceOf(RemoteNodeError);
    expect((version as Error).message).toMatch(/9\.9\.9/);
    expect((version as Error).message).toMatch(/0\.1\.0/);
    const { port } = new URL(address.replace('tcp://', 'http://'));
    const { connect } = await import('node:net');
    const stranger = connect({ host: '127.0.0.1', port: Number(port) });
    stranger.on('error', () => {});
    stranger.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(4)));
    cleanups.push(() => stranger.destroy());
    expect(await waitFor(() => endpoint.stderr().match(/refused a connection/g)?.length === 3)).toBe(true);
    const provider = remote({ endpoints: [address], secret: SECRET });
    const [node] = await provider.acquire(1);
    expect(await node!.request(`${tasks}#square`, 7)).toEqual({ value: 49, pid: endpoint.child.pid });
    await provider.shutdown();
    expect(endpoint.stderr()).toMatch(/refused a connection from 127\.0\.0\.1:\d+: .*shared secret/);
    expect(endpoint.stderr()).toMatch(
      /refused a connection from 127\.0\.0\.1:\d+: handshake mismatch in runtime version: expected 0\.1\.0, peer sent 9\.9\.9/,
    );
  });
});

describe('remote options', () => {
  it('are checked up front, naming the option and what it takes', () => {
    expect(() => createRuntime({ nodes: { kind: 'remote' } })).toThrow(
      /nodes\.launch.*at least one launch entry or endpoint/,
    );
    expect(() =>
      createRuntime({ nodes: { kind: 'process', launch: [{ prefix: ['ssh', 'b', '--'] }] } }),
    ).toThrow(/nodes\.launch.*left out unless kind is 'remote'/);
    expect(() => createRuntime({ nodes: { kind: 'remote', endpoints: ['tcp://b:7400'] } })).toThrow(
      /nodes\.secret.*a secret shared with the endpoints/,
    );
    expect(() => createRuntime({ nodes: { kind: 'remote', endpoints: ['b:7400'], secret: 's' } })).toThrow(
      /nodes\.endpoints\[0\].*tcp:\/\/host:port/,
    );
    expect(() => new RemoteNodeProvider({ launch: [{ prefix: ['ssh'], nodes: 0 }] })).toThrow(
      /launch\[0\]\.nodes/,
    );
  });
});
