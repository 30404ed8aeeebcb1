// What a first run meets, and launches that keep failing: a socket directory that does not exist
// yet (or disappears mid-run), a node command that dies, a missing executable, a node too slow to
// connect. Each ends, with the right values or a NodeLaunchError, and never loops.
import { execFile } from 'node:child_process';
import { chown, lstat, mkdir, mkdtemp, readdir, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createRuntime,
  InProcessNodeProvider,
  type NodeContext,
  NodeLaunchError,
  type NodeProvider,
  ProcessNodeProvider,
  type Runtime,
} from '@troupe/core';
import { type Launcher, NodeRegistry } from '@troupe/core/internal';
import { VirtualClock } from '@troupe/testing';
import {
  PipeTransport,
  setUnhandledErrorReporter,
  TroupeError,
  UnsafeDirectoryError,
} from '@troupe/transport';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { until as untilTurns } from './support/endpoint.js';
import {
  cleanupSandbox,
  createSandbox,
  isRunning,
  processesUsing,
  type Sandbox,
  waitUntilGone,
} from './support/processes.js';

const tasks = new URL('./fixtures/graph-tasks.mjs', import.meta.url).href;
const task = (name: string) => `${tasks}#${name}`;
const crashNode = fileURLToPath(new URL('./fixtures/crash-node.mjs', import.meta.url));

let sandbox: Sandbox;
let runtime: Runtime | undefined;
const restores: Array<() => void> = [];

beforeEach(async () => {
  sandbox = await createSandbox();
});

afterEach(async () => {
  for (const restore of restores.splice(0)) restore();
  await runtime?.shutdown();
  runtime = undefined;
  await cleanupSandbox(sandbox);
});

/** Errors reported with nobody to receive them, instead of process warnings. */
function captureUnhandled(): unknown[] {
  const reported: unknown[] = [];
  restores.push(setUnhandledErrorReporter((error) => reported.push(error)));
  return reported;
}

/** A runtime on process nodes in the sandbox, launched by its recording launcher. */
function processRuntime(
  options: { directory?: string; max?: number; process?: Record<string, unknown> } = {},
): Runtime {
  runtime = createRuntime({
    nodes: {
      kind: 'process',
      max: options.max ?? 2,
      process: {
        transport: new PipeTransport({ directory: options.directory ?? sandbox.directory }),
        launcher: sandbox.launcher,
        launchAttempts: 3,
        ...options.process,
      },
    },
  });
  return runtime;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
    },
    (error: unknown) => error,
  );
}

describe('a first run: no socket directory yet', () => {
  it('builds on process nodes with the right values, creating the directory 0700', async () => {
    const directory = join(sandbox.directory, 'troupe-first', 'sockets');
    const built = processRuntime({ directory });
    const values = await built.build([
      { task: task('outer'), input: [1, 2, 3] },
      { task: task('leaf'), input: 4 },
      { task: task('leaf'), input: 5 },
    ]);
    expect(values).toEqual([12, 8, 10]);
    const stats = await stat(directory);
    expect(stats.mode & 0o777).toBe(0o700);
    expect(stats.uid).toBe(userInfo().uid);
    await built.shutdown();
    for (const pid of sandbox.launched) expect(isRunning(pid)).toBe(false);
    expect(await readdir(directory)).toEqual([]);
  });

  it('a node registering for reuse creates the directory for its record', async () => {
    const directory = join(sandbox.directory, 'not-yet');
    const registry = new NodeRegistry(directory);
    const record = { pid: process.pid, address: join(directory, 'x.sock'), handshake: 'ab', summary: 's' };
    await registry.register(record);
    expect((await stat(directory)).mode & 0o777).toBe(0o700);
    await rm(directory, { recursive: true });
    // Gone again (a temp cleaner): restore writes it back, and says so only when it had to.
    await expect(registry.restore(record)).resolves.toBe(true);
    await expect(registry.restore(record)).resolves.toBe(false);
    await registry.unregister(process.pid);
  });

  it('refuses a socket directory that is a symbolic link, launching nothing', async () => {
    const real = join(sandbox.directory, 'real');
    await mkdir(real, { mode: 0o700 });
    const link = join(sandbox.directory, 'link');
    await symlink(real, link);
    const host = new ProcessNodeProvider({
      transport: new PipeTransport({ directory: link }),
      launcher: sandbox.launcher,
    });
    const error = await rejection(host.acquire(1));
    expect(error).toBeInstanceOf(NodeLaunchError);
    expect((error as NodeLaunchError).cause).toBeInstanceOf(UnsafeDirectoryError);
    expect((error as Error).message).toContain(`refusing to use ${link}`);
    expect(sandbox.launched).toEqual([]);
  });

  it.runIf(process.getuid?.() === 0)('refuses a socket directory that belongs to another user', async () => {
    const directory = join(sandbox.directory, 'theirs');
    await mkdir(directory, { mode: 0o700 });
    await chown(directory, 65534, 65534);
    runtime = processRuntime({ directory });
    const error = await rejection(runtime.build({ task: task('leaf'), input: 1 }));
    expect(error).toBeInstanceOf(NodeLaunchError);
    expect((error as Error).message).toContain('it belongs to uid 65534, not 0');
    expect(sandbox.launched).toEqual([]);
  });

  it('the directory removed mid-run is made again, and the reusable nodes stay findable', async () => {
    const first = new ProcessNodeProvider({
      reuse: true,
      transport: sandbox.transport,
      launcher: sandbox.launcher,
    });
    const [a] = await first.acquire(1);
    // A temp cleaner, while the host holds its node.
    await rm(sandbox.directory, { recursive: true, force: true });
    const [b] = await first.acquire(1);
    expect((await lstat(sandbox.directory)).mode & 0o777).toBe(0o700);
    const pids = [a!.pid!, b!.pid!].sort((x, y) => x - y);
    await first.shutdown();
    // Released, each goes idle and puts back what it needs to be found.
    const registry = new NodeRegistry(sandbox.directory);
    let listed: number[] = [];
    await waitForAsync(async () => {
      listed = (await registry.list(0)).map((record) => record.pid);
      return listed.length === 2;
    });
    expect(listed).toEqual(pids);

    const second = new ProcessNodeProvider({
      reuse: true,
      transport: new PipeTransport({ directory: sandbox.directory }),
      launcher: sandbox.launcher,
    });
    const how: string[] = [];
    second.on('node', (_node, kind) => how.push(kind));
    const again = await second.acquire(2);
    expect(how).toEqual(['reused', 'reused']);
    expect(again.map((node) => node.pid!).sort((x, y) => x - y)).toEqual(pids);
    await second.shutdown(again, { reuse: false });
    for (const pid of pids) expect(await waitUntilGone(pid)).toBe(true);
  });
});

/** Polls an async condition every 10 ms, at most 10 s. */
async function waitForAsync(condition: () => Promise<boolean>): Promise<void> {
  for (let tries = 0; tries < 1_000; tries++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('the condition never held');
}

describe('launches that keep failing end the run with NodeLaunchError', () => {
  it('a node command that exits at once: every waiting request fails with its exit and stderr', async () => {
    const built = processRuntime({
      process: { nodeCommand: { command: process.execPath, args: [crashNode] } },
    });
    const failures: unknown[] = [];
    built.on('request', (request, _from, to) => {
      if (to === 'failed') failures.push(request.error);
    });
    const requests = [1, 2, 3].map((input) => ({ task: task('leaf'), input }));
    const error = await rejection(built.build(requests));
    expect(error).toBeInstanceOf(NodeLaunchError);
    const failed = error as NodeLaunchError;
    expect(failed.attempts).toBe(3);
    expect(failed.exit?.code).toBe(3);
    expect(failed.message).toMatch(/after 3 attempts; the last one: node process \d+ exited with code 3/);
    expect(failed.stderrTail).toContain('missing native module xyz');
    // Every request of the run failed with it, and nothing was launched again: two nodes asked
    // for, three attempts each.
    expect(failures).toEqual([error, error, error]);
    expect(built.scheduler.unfinished).toBe(0);
    expect(sandbox.launched).toHaveLength(2 * 3);
    // A later build tries again (the cause may have gone), and fails the same way.
    expect(await rejection(built.build({ task: task('leaf'), input: 4 }))).toBeInstanceOf(NodeLaunchError);
    expect(sandbox.launched).toHaveLength(2 * 3 + 3);
    for (const pid of sandbox.launched) expect(isRunning(pid)).toBe(false);
    expect(await readdir(sandbox.directory)).toEqual([]);
  });

  it('a missing executable', async () => {
    const missing = join(sandbox.directory, 'no-such-troupe');
    const built = processRuntime({ process: { nodeCommand: { command: missing, args: [] } } });
    const error = await rejection(built.build({ task: task('leaf'), input: 1 }));
    expect(error).toBeInstanceOf(NodeLaunchError);
    expect((error as Error).message).toContain(`could not run ${missing}: spawn ${missing} ENOENT`);
    expect((error as NodeLaunchError).attempts).toBe(3);
    expect(built.scheduler.unfinished).toBe(0);
  });

  it('a node that cannot connect in time (connectTimeoutMs: 1)', async () => {
    const built = processRuntime({ max: 1, process: { connectTimeoutMs: 1, launchAttempts: 2 } });
    const error = await rejection(built.build({ task: task('leaf'), input: 1 }));
    expect(error).toBeInstanceOf(NodeLaunchError);
    expect((error as Error).message).toMatch(
      /after 2 attempts; the last one: node process \d+ did not accept/,
    );
    expect(sandbox.launched).toHaveLength(2);
    for (const pid of sandbox.launched) expect(await waitUntilGone(pid)).toBe(true);
  });
});

describe('launch back-off', () => {
  /** Waits until `condition` holds: the provider's file system work is real. At most 10 s. */
  async function until(condition: () => boolean): Promise<void> {
    for (let tries = 0; tries < 10_000 && !condition(); tries++)
      await new Promise((resolve) => setTimeout(resolve, 1));
    expect(condition()).toBe(true);
  }

  it('spaces the attempts on the injected clock, 50 ms doubling, and launches nothing in between', async () => {
    const clock = new VirtualClock();
    const launchedAt: number[] = [];
    // Each "node" has exited before the host looks at it, with something on its stderr.
    const launcher: Launcher = {
      launch: () => {
        launchedAt.push(clock.now());
        return {
          pid: 1_000_000 + launchedAt.length,
          exit: () => ({ code: 7, signal: null }),
          isAlive: () => false,
          onExit: (listener) => listener({ code: 7, signal: null }),
          outputTail: () => `attempt ${launchedAt.length}: cannot start\n`,
          killTree: () => {},
        };
      },
      attach: () => {
        throw new Error('nothing to reuse here');
      },
    };
    const host = new ProcessNodeProvider({
      transport: new PipeTransport({ directory: join(sandbox.directory, 'fresh') }),
      launcher,
      clock,
      launchAttempts: 4,
    });
    let outcome: unknown;
    void host.acquire(1).catch((error: unknown) => {
      outcome = error;
    });
    for (const [attempt, pause] of [
      [1, 50],
      [2, 100],
      [3, 200],
    ] as const) {
      // The attempt failed and the provider waits on the clock: nothing more until the pause ends.
      await until(() => launchedAt.length === attempt && clock.pending === 1);
      clock.advance(pause - 1);
      expect(launchedAt).toHaveLength(attempt);
      expect(clock.pending).toBe(1);
      clock.advance(1);
    }
    await until(() => outcome !== undefined);
    expect(launchedAt).toEqual([0, 50, 150, 350]);
    expect(outcome).toBeInstanceOf(NodeLaunchError);
    const error = outcome as NodeLaunchError;
    expect(error.attempts).toBe(4);
    expect(error.exit).toEqual({ code: 7, signal: null });
    expect(error.message).toContain(
      'after 4 attempts; the last one: node process 1000004 exited with code 7',
    );
    expect(error.stderrTail).toBe('attempt 4: cannot start\n');
  });
});

describe('a pool that has nodes when its growth fails', () => {
  it('carries on with them, asks no more in this run, and asks again in the next', async () => {
    const inner = new InProcessNodeProvider();
    let asked = 0;
    const provider: NodeProvider = {
      kind: 'inproc',
      acquire: async (count) => {
        asked++;
        if (asked === 1) return inner.acquire(count);
        throw new NodeLaunchError(`attempt ${asked} failed`, 1, undefined, '');
      },
      shutdown: (nodes) => inner.shutdown(nodes),
    };
    const reported = captureUnhandled();
    runtime = createRuntime({ nodes: { provider, max: 3 } });
    expect(await runtime.build({ task: task('leaf'), input: 1 })).toBe(2);
    expect(asked).toBe(1);
    const values = await runtime.build([2, 3, 4, 5, 6].map((input) => ({ task: task('leaf'), input })));
    expect(values).toEqual([4, 6, 8, 10, 12]);
    expect(asked).toBe(2);
    expect(runtime.nodes).toHaveLength(1);
    const next = await runtime.build([7, 8, 9].map((input) => ({ task: task('leaf'), input })));
    expect(next).toEqual([14, 16, 18]);
    expect(asked).toBe(3);
    // Nobody's request failed with those errors: they are reported, once each.
    expect(reported.map((error) => (error as Error).message)).toEqual([
      'attempt 2 failed',
      'attempt 3 failed',
    ]);
  });
});

describe('a provider that gives fewer nodes than asked', () => {
  it('the rest count as a failed growth, not as nodes on the way', async () => {
    let asked = 0;
    const provider: NodeProvider = {
      kind: 'inproc',
      acquire: async () => {
        asked++;
        return [];
      },
      shutdown: async () => {},
    };
    const reported = captureUnhandled();
    runtime = createRuntime({ nodes: { provider, max: 2 } });
    const error = await rejection(runtime.build({ task: task('leaf'), input: 1 }));
    expect((error as Error).message).toBe('the inproc node provider gave 0 of the 1 nodes asked for');
    expect(asked).toBe(1);
    expect(runtime.scheduler.unfinished).toBe(0);
    // The request got the error: nothing was left to report.
    expect(reported).toEqual([]);
  });
});

describe('a provider that hands one node out twice', () => {
  it('the second runtime fails its build with the reason, gives the node back, and rejects nothing unhandled', async () => {
    const inner = new InProcessNodeProvider();
    let node: NodeContext | undefined;
    const givenBack: NodeContext[] = [];
    const provider: NodeProvider = {
      kind: 'inproc',
      acquire: async (count) => {
        node ??= (await inner.acquire(count))[0];
        return node ? [node] : [];
      },
      shutdown: async (nodes) => {
        if (nodes) givenBack.push(...nodes);
        await inner.shutdown(nodes);
      },
    };
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    restores.push(() => process.off('unhandledRejection', onUnhandled));
    const reported = captureUnhandled();
    // A virtual clock: the stall timer never fires, so only the growth failure can end the build.
    const clock = new VirtualClock();
    const first = createRuntime({ nodes: { provider, max: 1 }, clock });
    runtime = first;
    expect(await first.build({ task: task('leaf'), input: 1 })).toBe(2);
    const second = createRuntime({ nodes: { provider, max: 1 }, clock });
    try {
      let error: unknown;
      void rejection(second.build({ task: task('leaf'), input: 2 })).then((caught) => {
        error = caught;
      });
      // Bounded: without a verdict the request would wait for a node forever.
      await untilTurns(() => error !== undefined, 'the build to fail');
      expect(error).toBeInstanceOf(TroupeError);
      expect((error as Error).message).toMatch(
        /^the inproc node provider gave node \S+, which cannot join this runtime \(a node given to a runtime must be fresh\): node \S+ already has a host$/,
      );
      expect(second.nodes).toEqual([]);
      expect(second.scheduler.unfinished).toBe(0);
    } finally {
      // It waits for the growth, which gave the refused node back.
      await second.shutdown();
    }
    expect(givenBack).toEqual([node]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(unhandled).toEqual([]);
    // The request got the error: nothing was left to report.
    expect(reported).toEqual([]);
  });
});

describe('the examples on a new machine (empty TMPDIR, XDG_RUNTIME_DIR and HOME)', () => {
  let home: string;
  beforeEach(async () => {
    home = await mkdtemp(join(tmpdir(), 'troupe-new-machine-'));
    for (const name of ['tmp', 'run', 'home']) await mkdir(join(home, name));
  });
  afterEach(async () => {
    const sockets = join(home, 'tmp', `troupe-${userInfo().uid}`);
    for (const pid of processesUsing(sockets)) {
      for (const target of [-pid, pid]) {
        try {
          process.kill(target, 'SIGKILL');
        } catch {
          // Gone already.
        }
      }
      await waitUntilGone(pid);
    }
    await rm(home, { recursive: true, force: true });
  });

  const root = fileURLToPath(new URL('../../../', import.meta.url));
  const run = (script: string, args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        TMPDIR: join(home, 'tmp'),
        XDG_RUNTIME_DIR: join(home, 'run'),
        HOME: join(home, 'home'),
      };
      delete env.TROUPE_SOCKET_DIR;
      execFile(
        process.execPath,
        [join(root, script), ...args],
        { env, timeout: 50_000, killSignal: 'SIGKILL' },
        (error, stdout, stderr) => resolve({ code: error ? (error.code as number) : 0, stdout, stderr }),
      );
    });

  it('build-graph on process nodes builds every project', async () => {
    const out = await run('examples/build-graph/dist/main.js', [
      '--kind',
      'process',
      '--projects',
      '50',
      '--nodes',
      '2',
      '--json',
    ]);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    const summary = JSON.parse(out.stdout.trim().split('\n').at(-1)!) as { built: number; failed: number };
    expect(summary).toMatchObject({ built: 50, failed: 0 });
  });

  it('job-agent runs its jobs to their expected results', async () => {
    const out = await run('examples/job-agent/dist/main.js', ['--json']);
    expect(out.code).toBe(0);
    const results = Object.fromEntries(
      out.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { id: string; result: string })
        .map((job) => [job.id, job.result]),
    );
    expect(results).toMatchObject({
      'compile-app': 'Succeeded',
      crashes: 'Failed',
      'compile-tests': 'Succeeded',
    });
  });
});
