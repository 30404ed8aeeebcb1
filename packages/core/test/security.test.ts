// What a node agrees to run, and who gets to ask: task and job lookup refuses what is not a
// defineTask/defineJob export; a TCP node wants a secret; strangers that connect and never
// become the host cannot crowd it out.
import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type JobCompletedEvent,
  JobDispatcher,
  MemoryJobServer,
  NodeContext,
  TaskFailedError,
  TaskNotFoundError,
  TaskRefusedError,
} from '@troupe/core';
import { InProcessJobWorkers, NodeEndpoint, PacketType, tcpSalt } from '@troupe/core/internal';
import { VirtualClock } from '@troupe/testing';
import {
  type HandshakeOptions,
  type Link,
  MemoryTransport,
  type TcpListenOptions,
  TcpTransport,
  type Transport,
} from '@troupe/transport';
import { createHandshake, encodeHandshake } from '@troupe/transport/internal';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const plainExports = new URL('./fixtures/plain-exports.mjs', import.meta.url).href;
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type Ran = { __troupeRan?: string[] };
beforeEach(() => {
  (globalThis as Ran).__troupeRan = [];
});
const ran = () => (globalThis as Ran).__troupeRan ?? [];

function until(predicate: () => boolean, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 10_000;
    const check = () => {
      if (predicate()) resolve();
      else if (Date.now() > deadline) reject(new Error(`gave up waiting for ${what}`));
      else setTimeout(check, 2);
    };
    check();
  });
}

async function startEndpoint(
  transport: Transport,
  listen: Parameters<typeof NodeEndpoint.start>[0]['listen'] = {},
  clock?: VirtualClock,
) {
  const endpoint = await NodeEndpoint.start({
    transport,
    idleTimeoutMs: 600_000,
    listen,
    ...(clock && { clock }),
  });
  const logs: string[] = [];
  endpoint.on('log', (line) => logs.push(line));
  cleanups.push(() => endpoint.exit());
  return { endpoint, logs };
}

let ids = 0;
async function host(connect: (onLink: (link: Link) => void) => Promise<Link>): Promise<NodeContext> {
  const node = new NodeContext({ id: `security-host${++ids}`, kind: 'inproc', connect });
  cleanups.push(() => node.close({ reuse: false }));
  await node.start(process.pid);
  return node;
}

async function refusal(node: NodeContext, task: string, input: unknown = null): Promise<TaskFailedError> {
  const error = await node.request(task, input).then(
    (value) => {
      throw new Error(`${task} ran and returned ${JSON.stringify(value)}`);
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TaskFailedError);
  return error as TaskFailedError;
}

describe('a node runs only tasks made with defineTask', () => {
  async function memoryNode() {
    const transport = new MemoryTransport();
    const { endpoint } = await startEndpoint(transport);
    return host((onLink) => transport.connect(endpoint.address, { onLink }));
  }

  it('refuses a Node.js built-in, by node: specifier or by bare name, before anything runs', async () => {
    const node = await memoryNode();
    for (const task of ['node:child_process#execSync', 'child_process#execSync', 'fs#readFileSync']) {
      const error = await refusal(node, task, 'id');
      expect(error.remoteCode).toBe(TaskRefusedError.code);
      expect(error.message).toContain(`refused to run task ${task}:`);
      expect(error.message).toMatch(/is a Node\.js built-in module, not a task module/);
    }
    // The node is fine and still serves real tasks.
    expect(await node.request(`${plainExports}#real`, 'ok')).toBe('ok');
    expect(await node.request('troupe:ping', null)).toEqual({ pid: process.pid, threadId: 0 });
  });

  it('refuses code carried in the id (data:) without evaluating it', async () => {
    const node = await memoryNode();
    const source =
      "globalThis.__troupeRan.push('data');" +
      "export const t = { [Symbol.for('troupe.task')]: true, name: 't', run: () => 'ran' };";
    const task = `data:text/javascript,${encodeURIComponent(source)}#t`;
    const error = await refusal(node, task);
    expect(error.remoteCode).toBe(TaskRefusedError.code);
    expect(error.message).toMatch(/data: modules are not loaded/);
    expect(ran()).toEqual([]);
  });

  it('refuses a plain function, an object with a run method, and a job, naming what each is', async () => {
    const node = await memoryNode();
    const cases: Array<[string, RegExp]> = [
      [
        'plain',
        /export "plain" of .*plain-exports\.mjs is a plain function, not a task made with defineTask/,
      ],
      ['withRun', /export "withRun" of .*plain-exports\.mjs is an object, not a task made with defineTask/],
      ['notAFunction', /export "notAFunction" of .*plain-exports\.mjs is a number, not a task/],
      ['job', /export "job" of .*plain-exports\.mjs is an object, not a task made with defineTask/],
    ];
    for (const [name, message] of cases) {
      const error = await refusal(node, `${plainExports}#${name}`, 1);
      expect(error.remoteCode).toBe(TaskRefusedError.code);
      expect(error.message).toContain(`refused to run task ${plainExports}#${name}:`);
      expect(error.message).toMatch(message);
    }
    expect(ran()).toEqual([]);
    const missing = await refusal(node, `${plainExports}#nothingHere`);
    expect(missing.remoteCode).toBe(TaskNotFoundError.code);
    expect(missing.message).toMatch(/has no task export named "nothingHere"/);
    expect(await node.request(`${plainExports}#real`, 2)).toBe(2);
    expect(ran()).toEqual(['real']);
  });

  it('a job worker refuses a plain function and a task: the job ends Failed, saying why', async () => {
    const server = new MemoryJobServer();
    const dispatcher = new JobDispatcher({ source: server, workers: new InProcessJobWorkers(), slots: 1 });
    const logs = new Map<string, string[]>();
    dispatcher.on('log', (job, body) => logs.set(job.id, [...(logs.get(job.id) ?? []), body.message]));
    const completed: JobCompletedEvent[] = [];
    dispatcher.on('completed', (event) => completed.push(event));
    server.add({ id: 'plain', job: `${plainExports}#plainJob` });
    server.add({ id: 'task', job: `${plainExports}#real` });
    server.add({ id: 'builtin', job: 'node:child_process#execSync', message: 'id' });
    server.add({ id: 'real', job: `${plainExports}#job` });
    server.close();
    await dispatcher.run();
    const results = Object.fromEntries(completed.map((event) => [event.job.id, event.completion?.result]));
    expect(results).toEqual({ plain: 'Failed', task: 'Failed', builtin: 'Failed', real: 'Succeeded' });
    expect(logs.get('plain')?.join('\n')).toMatch(
      /refused to run job .*#plainJob: export "plainJob" .* is a plain function, not a job made with defineJob/,
    );
    expect(logs.get('task')?.join('\n')).toMatch(/is an object, not a job made with defineJob/);
    expect(logs.get('builtin')?.join('\n')).toMatch(/is a Node\.js built-in module/);
    expect(ran()).toEqual(['job']);
  });
});

/** A TCP host that gets past the handshake and never says it is a host: the connection just sits. */
function squatter(address: string): Promise<Link> {
  return new TcpTransport().connect(address, { handshake: {} });
}

/** A raw socket that connects and says nothing at all (cannot pass an authenticated handshake). */
async function silentStranger(address: string): Promise<Socket> {
  const { port } = new URL(address.replace('tcp://', 'http://'));
  const socket = netConnect({ host: '127.0.0.1', port: Number(port) });
  socket.on('error', () => {});
  socket.on('data', () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}

describe('strangers around a TCP node do not lock its host out', () => {
  it('with a secret: 100 connections that never finish the handshake; the oldest make room and the host builds', async () => {
    const tcp = new TcpTransport();
    // Time stands still for the node: its strangers go by eviction alone, not by their handshake timing out.
    const { endpoint, logs } = await startEndpoint(tcp, { secret: 'correct horse' }, new VirtualClock());
    const strangers: Socket[] = [];
    cleanups.push(() => {
      for (const socket of strangers) socket.destroy();
    });
    for (let i = 0; i < 100; i++) strangers.push(await silentStranger(endpoint.address));
    const evicted = () => logs.filter((line) => /the oldest of 64 connections waiting/.test(line));
    await until(() => evicted().length === 36, 'the 36 oldest strangers to be closed');
    expect(evicted()[0]).toMatch(
      /^refused a connection from 127\.0\.0\.1:\d+: closed 127\.0\.0\.1:\d+, the oldest of 64 connections waiting to be admitted/,
    );

    const node = await host((onLink) =>
      tcp.connect(endpoint.address, { secret: 'correct horse', handshake: {}, onLink }),
    );
    expect(endpoint.state).toBe('active');
    expect(await node.request(`${plainExports}#real`, 'built')).toBe('built');
    expect(await node.request('troupe:ping', null)).toEqual({ pid: process.pid, threadId: 0 });
  });

  it('insecure: squatters past the handshake and strangers announcing 60 MiB frames; the host builds, the rest go at the deadline', async () => {
    const clock = new VirtualClock();
    const tcp = new TcpTransport();
    const listen: TcpListenOptions = { insecure: true };
    const { endpoint, logs } = await startEndpoint(tcp, listen, clock);
    const squatters: Link[] = [];
    const strangers: Socket[] = [];
    cleanups.push(() => {
      for (const socket of strangers) socket.destroy();
      return Promise.all(squatters.map((link) => link.destroy()));
    });
    for (let i = 0; i < 100; i++) squatters.push(await squatter(endpoint.address));
    await until(
      () => squatters.filter((link) => link.state === 'closed').length === 36,
      '36 squatters to be closed',
    );

    // Each announces a 60 MiB BuildRequest and sends 400 KiB of it: together over the 1 MiB that
    // strangers may hold, so the ones holding the most are closed.
    const header = Buffer.alloc(5);
    header[0] = PacketType.BuildRequest;
    header.writeUInt32LE(60 * 1024 * 1024, 1);
    const gone: Array<Promise<void>> = [];
    for (let i = 0; i < 4; i++) {
      const socket = await silentStranger(endpoint.address);
      strangers.push(socket);
      gone.push(new Promise((resolve) => socket.once('close', () => resolve())));
      socket.write(
        Buffer.concat([
          encodeHandshake(createHandshake({ salt: tcpSalt() }, false)),
          header,
          Buffer.alloc(400 * 1024),
        ]),
      );
    }
    await until(
      () => logs.some((line) => /held \d+ bytes together, over the limit of 1048576/.test(line)),
      'a stranger closed for its bytes',
    );

    const node = await host((onLink) => tcp.connect(endpoint.address, { handshake: {}, onLink }));
    expect(await node.request(`${plainExports}#real`, 'built')).toBe('built');

    // Those still waiting are closed at the admission deadline (10 s by default); the host stays.
    clock.advance(10_000);
    await until(() => squatters.every((link) => link.state === 'closed'), 'every squatter to be closed');
    await Promise.all(gone);
    expect(
      logs.filter((line) => /was not admitted within 10000 ms of its handshake/.test(line)).length,
    ).toBeGreaterThan(50);
    expect(await node.request(`${plainExports}#real`, 'still')).toBe('still');
    expect(endpoint.state).toBe('active');
  });
});

describe('troupe node on TCP', () => {
  const bin = new URL('../bin/troupe.js', import.meta.url).pathname;
  let directory: string;
  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'troupe-sec-'));
    cleanups.push(() => rm(directory, { recursive: true, force: true }));
  });

  function troupe(args: string[], env: Record<string, string> = {}) {
    const child: ChildProcess = spawn(process.execPath, [bin, 'node', ...args], {
      env: { ...process.env, TROUPE_SOCKET_DIR: directory, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
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
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    const listening = new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', () => {
        const line = stdout.split('\n')[0];
        if (stdout.includes('\n') && line) resolve((JSON.parse(line) as { address: string }).address);
      });
      child.once('close', (code) => reject(new Error(`ended (${code}) before listening:\n${stderr}`)));
    });
    listening.catch(() => {});
    return { child, exited, listening, stdout: () => stdout, stderr: () => stderr };
  }

  // A node on TCP salts its handshake for TCP, not for its user (remote hosts run as other users).
  const plain: HandshakeOptions = { nodeReuse: false, lowPriority: false, salt: tcpSalt() };

  it('refuses to listen without a secret: one line, exit 2', async () => {
    const run = troupe(['--listen', 'tcp://127.0.0.1:0']);
    expect(await run.exited).toBe(2);
    expect(run.stdout()).toBe('');
    expect(run.stderr()).toMatch(
      /^troupe node: refusing to listen on TCP without a secret .*--insecure to accept that\n$/,
    );
  });

  it('--insecure listens, and warns on stderr', async () => {
    const run = troupe(['--listen', 'tcp://127.0.0.1:0', '--insecure', '--idle-timeout', '60000']);
    const address = await run.listening;
    expect(run.stderr()).toMatch(
      /WARNING: listening on tcp:\/\/127\.0\.0\.1:0 without a secret \(--insecure\)/,
    );
    const node = await host((onLink) => new TcpTransport().connect(address, { handshake: plain, onLink }));
    expect(await node.request('troupe:ping', null)).toMatchObject({ pid: run.child.pid });
    await node.close({ reuse: false });
    expect(await run.exited).toBe(0);
  });

  it('--secret-file: refused when group or others can read it, used when only its owner can', async () => {
    const file = join(directory, 'secret');
    await writeFile(file, 'correct horse\n', { mode: 0o644 });
    await chmod(file, 0o644);
    const loose = troupe(['--listen', 'tcp://127.0.0.1:0', '--secret-file', file]);
    expect(await loose.exited).toBe(2);
    expect(loose.stderr()).toBe(
      `troupe node: --secret-file ${file}: readable or writable by group or others (mode 644); chmod 600 it\n`,
    );

    await chmod(file, 0o600);
    const run = troupe(['--listen', 'tcp://127.0.0.1:0', '--secret-file', file, '--idle-timeout', '60000']);
    const address = await run.listening;
    expect(run.stderr()).not.toMatch(/WARNING/);
    // Without the secret: refused. With it (the file's newline is not part of it): served.
    await expect(new TcpTransport().connect(address, { handshake: plain })).rejects.toThrow(/flags/);
    const node = await host((onLink) =>
      new TcpTransport().connect(address, { handshake: plain, secret: 'correct horse', onLink }),
    );
    expect(await node.request('troupe:ping', null)).toMatchObject({ pid: run.child.pid });
    await node.close({ reuse: false });
    expect(await run.exited).toBe(0);
  });

  it('--secret-env: the secret authenticates hosts, and is gone from the environment tasks see', async () => {
    const run = troupe(
      ['--listen', 'tcp://127.0.0.1:0', '--secret-env', 'TROUPE_TEST_SECRET', '--idle-timeout', '60000'],
      {
        TROUPE_TEST_SECRET: 'battery staple',
        TROUPE_TEST_OTHER: 'visible',
      },
    );
    const address = await run.listening;
    expect(run.stderr()).not.toMatch(/WARNING/);
    const node = await host((onLink) =>
      new TcpTransport().connect(address, { handshake: plain, secret: 'battery staple', onLink }),
    );
    expect(await node.request(`${plainExports}#envOf`, 'TROUPE_TEST_OTHER')).toBe('visible');
    expect(await node.request(`${plainExports}#envOf`, 'TROUPE_TEST_SECRET')).toBeNull();
    await node.close({ reuse: false });
    expect(await run.exited).toBe(0);
  });

  it('--secret-file that cannot be read, or given beside --secret-env, is one line and exit 2', async () => {
    const missing = join(directory, 'no-such-secret');
    const unreadable = troupe(['--listen', 'tcp://127.0.0.1:0', '--secret-file', missing]);
    expect(await unreadable.exited).toBe(2);
    expect(unreadable.stderr()).toBe(`troupe node: --secret-file ${missing}: ENOENT\n`);
    const both = troupe(['--listen', 'tcp://127.0.0.1:0', '--secret-file', missing, '--secret-env', 'X'], {
      X: 'x',
    });
    expect(await both.exited).toBe(2);
    expect(both.stderr()).toBe('troupe node: --secret-env and --secret-file are mutually exclusive\n');
  });

  it('--secret-env naming a variable that is not set is an error, not a node without a secret', async () => {
    const run = troupe(['--listen', 'tcp://127.0.0.1:0', '--secret-env', 'TROUPE_TEST_NO_SUCH_SECRET']);
    expect(await run.exited).toBe(2);
    expect(run.stderr()).toBe(
      'troupe node: --secret-env TROUPE_TEST_NO_SUCH_SECRET: the variable is not set or empty\n',
    );
  });
});
