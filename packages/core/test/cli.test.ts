// The `troupe` command, run as a user would: `node packages/core/bin/troupe.js ...`, with
// TROUPE_SOCKET_DIR pointing at a private directory per test so it never meets the user's nodes.
import { type ChildProcess, spawn } from 'node:child_process';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { NodeContext, ProcessNodeProvider } from '@troupe/core';
import { tcpSalt } from '@troupe/core/internal';
import { type HandshakeOptions, type Link, TcpTransport } from '@troupe/transport';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanupSandbox, createSandbox, isRunning, type Sandbox } from './support/processes.js';

const bin = new URL('../bin/troupe.js', import.meta.url).pathname;
const leaveIdleNodes = new URL('./fixtures/leave-idle-nodes.mjs', import.meta.url).pathname;
/** What a host presents to a node started by hand without flags. */
const plainHandshake: HandshakeOptions = { nodeReuse: false, lowPriority: false };

let sandbox: Sandbox;

beforeEach(async () => {
  sandbox = await createSandbox();
});

afterEach(async () => {
  await cleanupSandbox(sandbox);
});

interface Run {
  child: ChildProcess;
  /** Everything written to stdout so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the first complete stdout line. */
  firstLine: Promise<string>;
  /** Resolves when the process has exited and its output streams are closed. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `troupe <args>` in this test's sandbox. */
function troupe(args: string[]): Run {
  return start([bin, ...args]);
}

/** Starts `node <args>` in this test's sandbox, as its own process group (so cleanup reaches its children). */
function start(args: string[]): Run {
  const child = spawn(process.execPath, args, {
    env: sandbox.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: process.platform !== 'win32',
  });
  if (child.pid) sandbox.pids.add(child.pid);
  let out = '';
  let err = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  const firstLine = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const end = out.indexOf('\n');
      if (end >= 0) resolve(out.slice(0, end));
    });
    child.once('close', (code, signal) =>
      reject(new Error(`node ${args.join(' ')} ended (${code ?? signal}) before a line:\n${err}`)),
    );
  });
  firstLine.catch(() => {});
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  return { child, stdout: () => out, stderr: () => err, firstLine, exited };
}

/** Waits for the run to end and expects exit code 0, showing its stderr if not. */
async function succeeded(run: Run): Promise<void> {
  const exit = await run.exited;
  expect(exit, `${JSON.stringify(exit)}, stderr:\n${run.stderr()}`).toEqual({ code: 0, signal: null });
}

/** A host connection to a node started by hand: handshake, NodeConfiguration, NodeReady. */
async function connectTo(connect: (onLink: (link: Link) => void) => Promise<Link>): Promise<NodeContext> {
  const node = new NodeContext({ id: 'node-by-hand', kind: 'process', connect });
  await node.start(process.pid);
  return node;
}

describe('troupe node', () => {
  it('--listen pipe prints one JSON line with a socket path in the per-user directory, and serves a host there', async () => {
    const run = troupe(['node', '--listen', 'pipe', '--idle-timeout', '60000']);
    const first = await run.firstLine;
    const line = JSON.parse(first) as { event: string; address: string };
    const pid = run.child.pid!;
    expect(line).toMatchObject({
      event: 'listening',
      address: join(sandbox.directory, `troupe-node-${pid}.sock`),
    });
    expect((await lstat(line.address)).isSocket()).toBe(true);

    // A script can connect to what the line names.
    const node = await connectTo((onLink) =>
      sandbox.transport.connect(line.address, { handshake: plainHandshake, onLink }),
    );
    expect(await node.request('troupe:ping', null)).toEqual({ pid, threadId: 0 });
    await node.close({ reuse: false });
    expect(node.exitPacket).toBe('sent');

    // The exit packet ends it, cleanly, and it said nothing more on stdout.
    await succeeded(run);
    expect(run.stdout()).toBe(`${first}\n`);
    expect(isRunning(pid)).toBe(false);
    expect(await readdir(sandbox.directory)).toEqual([]);
  });

  it('--listen tcp://127.0.0.1:0 prints one JSON line with the port it bound', async () => {
    const run = troupe(['node', '--listen', 'tcp://127.0.0.1:0', '--insecure', '--idle-timeout', '60000']);
    const line = JSON.parse(await run.firstLine) as { event: string; address: string };
    expect(line.event).toBe('listening');
    const port = Number(/^tcp:\/\/127\.0\.0\.1:(\d+)$/.exec(line.address)?.[1]);
    expect(port).toBeGreaterThan(0);

    const tcp = new TcpTransport();
    const node = await connectTo((onLink) =>
      tcp.connect(line.address, { handshake: { ...plainHandshake, salt: tcpSalt() }, onLink }),
    );
    expect(await node.request('troupe:ping', null)).toEqual({ pid: run.child.pid, threadId: 0 });
    await node.close({ reuse: false });

    await succeeded(run);
    expect(run.stdout().trimEnd().split('\n')).toHaveLength(1);
    expect(isRunning(run.child.pid!)).toBe(false);
  });

  it('ends cleanly on SIGTERM', async () => {
    const run = troupe(['node', '--listen', 'pipe', '--idle-timeout', '60000']);
    const line = JSON.parse(await run.firstLine) as { address: string };
    run.child.kill('SIGTERM');
    await succeeded(run);
    expect(run.stdout().trimEnd().split('\n')).toHaveLength(1);
    await expect(lstat(line.address)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('command-line mistakes', () => {
  it.each([
    [['frob'], /^troupe: unknown command "frob"/],
    [['node', '--bogusflag'], /^troupe node: Unknown option '--bogusflag'/],
    [['node', '--idle-timeout', '-5'], /^troupe node: --idle-timeout must be .* not -5/],
    [['node', '--idle-timeout', 'soon'], /^troupe node: --idle-timeout must be .* not soon/],
    [
      ['node', '--listen', 'tcp://127.0.0.1:99999'],
      /^troupe node: --listen must be .* not tcp:\/\/127\.0\.0\.1:99999/,
    ],
    [['node', '--runtime-version', 'latest'], /^troupe node: --runtime-version must be major\.minor\.patch/],
    [['node', 'pipe'], /^troupe node: Unexpected argument 'pipe'/],
    [['nodes', 'list', '--bogus'], /^troupe nodes: Unknown option '--bogus'/],
    [['nodes', 'list', '--json', 'all'], /^troupe nodes: Unexpected argument 'all'/],
    [['nodes', 'shutdown', '--force'], /^troupe nodes: Unknown option '--force'/],
    [['nodes', 'frob'], /^troupe nodes: unknown command "frob"/],
    [['nodes'], /^troupe: nodes needs a command: list or shutdown/],
  ])('troupe %j prints one line and exits 2', async (args, says) => {
    const run = troupe(args);
    const exit = await run.exited;
    expect(exit).toEqual({ code: 2, signal: null });
    expect(run.stdout()).toBe('');
    const lines = run.stderr().trimEnd().split('\n');
    expect(lines, run.stderr()).toHaveLength(1);
    expect(lines[0]).toMatch(says);
    // Nothing was started or left behind.
    expect(await readdir(sandbox.directory)).toEqual([]);
  });
});

describe('troupe nodes', () => {
  /** Two reusable nodes of this sandbox, left idle by their host. */
  async function idleNodes(): Promise<number[]> {
    const host = new ProcessNodeProvider({
      transport: sandbox.transport,
      launcher: sandbox.launcher,
      reuse: true,
    });
    const nodes = await host.acquire(2);
    await host.shutdown();
    const pids = nodes.map((node) => node.pid!).sort((a, b) => a - b);
    for (const pid of pids) expect(isRunning(pid)).toBe(true);
    return pids;
  }

  it('list shows each idle reusable node on one line starting with its pid', async () => {
    const empty = troupe(['nodes', 'list']);
    await succeeded(empty);
    expect(empty.stdout()).toBe('');

    const pids = await idleNodes();
    const run = troupe(['nodes', 'list']);
    await succeeded(run);
    const lines = run.stdout().trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines.map((line) => Number(/^(\d+)\s/.exec(line)?.[1])).sort((a, b) => a - b)).toEqual(pids);
    for (const line of lines) expect(line).toMatch(/runtime 0\.1\.0/);
    // Listing does not disturb them.
    for (const pid of pids) expect(isRunning(pid)).toBe(true);
  });

  it('shutdown makes every idle reusable node exit', async () => {
    const pids = await idleNodes();
    const run = troupe(['nodes', 'shutdown']);
    await succeeded(run);
    expect(run.stdout().trimEnd().split('\n').sort()).toEqual(pids.map((pid) => `${pid}\texited`).sort());
    for (const pid of pids) expect(isRunning(pid)).toBe(false);

    const after = troupe(['nodes', 'list']);
    await succeeded(after);
    expect(after.stdout()).toBe('');
    expect(await readdir(sandbox.directory)).toEqual([]);
  });

  it('list and shutdown reach nodes left by a host that has ended, and that host could end with its stdout piped', async () => {
    // The earlier run: its stdout is a pipe, and it ends (the pipe closes) although its reusable
    // nodes live on: they must not hold their parent's stdio (dotnet/msbuild#3091).
    const earlier = start([leaveIdleNodes, '2']);
    const pids = (JSON.parse(await earlier.firstLine) as number[]).sort((a, b) => a - b);
    for (const pid of pids) sandbox.pids.add(pid);
    const ended = await Promise.race([
      earlier.exited,
      new Promise<'still open'>((resolve) => setTimeout(() => resolve('still open'), 20_000).unref()),
    ]);
    expect(ended, `stderr:\n${earlier.stderr()}`).toEqual({ code: 0, signal: null });
    for (const pid of pids) expect(isRunning(pid)).toBe(true);

    const list = troupe(['nodes', 'list']);
    await succeeded(list);
    expect(
      list
        .stdout()
        .trimEnd()
        .split('\n')
        .map((line) => Number(/^(\d+)\s/.exec(line)?.[1])),
    ).toEqual(pids);

    const run = troupe(['nodes', 'shutdown']);
    await succeeded(run);
    expect(run.stdout().trimEnd().split('\n').sort()).toEqual(pids.map((pid) => `${pid}\texited`).sort());
    // Orphans are collected by PID 1, whenever it gets round to it; they have ended all the same.
    for (const pid of pids) expect(isRunning(pid)).toBe(false);
    expect(await readdir(sandbox.directory)).toEqual([]);
  });
});
