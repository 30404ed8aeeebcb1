// A request must name a task a node can load: a file the node can import, exporting the task
// under its name. What no node could load is refused before it is sent, with an error that says
// why, instead of a failure that blames troupe's own files or a build that never ends.
import { spawn } from 'node:child_process';
import { createRuntime, defineTask, type Runtime, TaskFailedError, TaskModuleError } from '@troupe/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanupSandbox, createSandbox, type Sandbox } from './support/processes.js';

const moduleTasks = new URL('./fixtures/module-tasks.mjs', import.meta.url).href;
const hostScript = new URL('./fixtures/host-script-task.mjs', import.meta.url).pathname;
const threadPingHost = new URL('./fixtures/thread-ping-host.mjs', import.meta.url).pathname;
const here = new URL('.', import.meta.url).pathname;

let runtime: Runtime | undefined;
let sandbox: Sandbox;

beforeEach(async () => {
  sandbox = await createSandbox();
});

afterEach(async () => {
  await runtime?.shutdown();
  runtime = undefined;
  await cleanupSandbox(sandbox);
});

describe('relative task paths', () => {
  it('are refused by runtime.build with an error that says to pass a file URL', async () => {
    runtime = createRuntime({ nodes: { kind: 'inproc', max: 1 } });
    const error = await runtime.build({ task: './weird-tasks.mjs#x', input: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskModuleError);
    expect((error as TaskModuleError).task).toBe('./weird-tasks.mjs#x');
    expect((error as Error).message).toContain('relative path');
    expect((error as Error).message).toContain('new URL("./weird-tasks.mjs", import.meta.url)');
    // Nothing was sent: no node was started for it.
    expect(runtime.nodes).toHaveLength(0);
  });

  it.each(['inproc', 'thread'] as const)('are refused by ctx.build on %s nodes', async (kind) => {
    runtime = createRuntime({ nodes: { kind, max: 1 } });
    const error = await runtime
      .build({ task: `${moduleTasks}#buildsRelative`, input: 1 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskFailedError);
    expect((error as TaskFailedError).remoteCode).toBe('TROUPE_TASK_MODULE');
    expect((error as Error).message).toContain('./weird-tasks.mjs#x cannot be run on a node');
    expect((error as Error).message).not.toContain('Cannot find module');
  });

  it('leave bare package specifiers to the node', async () => {
    runtime = createRuntime({ nodes: { kind: 'inproc', max: 1 } });
    const error = await runtime.build({ task: '@acme/tasks#compile', input: 1 }).catch((e: unknown) => e);
    // Sent, and the node reports it cannot find the package: it was not refused as relative.
    expect(error).toBeInstanceOf(TaskFailedError);
    expect((error as Error).message).toContain('@acme/tasks');
  });

  it("in defineTask's module option are taken relative to the module that calls it", () => {
    const task = defineTask({ name: 'buildsRelative', module: './fixtures/module-tasks.mjs', run: () => 0 });
    expect(task.module).toBe(moduleTasks);
    expect(task.id).toBe(`${moduleTasks}#buildsRelative`);
  });
});

/**
 * Runs a host process (`node args`, `stdin` piped in); resolves with its stdout lines as JSON, or
 * 'hung' if it has not ended after 30 s: a guard, not a measurement (before the fixes it never did).
 */
function runHost(args: string[], stdin = ''): Promise<unknown[] | 'hung'> {
  const child = spawn(process.execPath, args, {
    cwd: here,
    env: sandbox.env,
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  if (child.pid) sandbox.pids.add(child.pid);
  child.stdin!.end(stdin);
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  return new Promise((resolve) => {
    const guard = setTimeout(() => resolve('hung'), 30_000);
    child.once('close', () => {
      clearTimeout(guard);
      const lines = out.trim() ? out.trim().split('\n') : [];
      resolve(lines.map((line) => JSON.parse(line) as unknown));
    });
  });
}

describe("a task defined in the host's own script", () => {
  it.each(['inproc', 'thread', 'process'])(
    'is refused at once on %s nodes, saying the module must be importable',
    async (kind) => {
      const outcome = await runHost([hostScript, kind]);
      expect(outcome).not.toBe('hung');
      expect(outcome).toHaveLength(1);
      const [line] = outcome as Array<{ code: string; message: string }>;
      expect(line?.code).toBe('TROUPE_TASK_MODULE');
      const message = line?.message;
      expect(message).toContain("is the host's own script");
      expect(message).toContain('module of their own');
    },
  );
});

describe('a host whose code came from stdin (node --input-type=module)', () => {
  const script = `
    import { createRuntime, defineTask } from '@troupe/core';
    const inline = defineTask({ name: 'inline', run: (n) => n });
    const runtime = createRuntime({ nodes: { kind: 'thread', max: 1 } });
    const report = (promise) =>
      promise.then((value) => ({ value }), (error) => ({ code: error.code, message: error.message }));
    console.log(JSON.stringify(await report(runtime.build({ task: 'troupe:ping', input: null }))));
    console.log(JSON.stringify(await report(runtime.build({ task: inline, input: 1 }))));
    await runtime.shutdown();
  `;

  it('starts thread nodes, and refuses a task defined in that code, which has no file', async () => {
    const outcome = await runHost(['--input-type=module'], script);
    expect(outcome).not.toBe('hung');
    const [ping, inline] = outcome as Array<{ value?: unknown; code?: string; message?: string }>;
    // A thread node started (its thread id is not the host's 0) and answered.
    const where = ping?.value as { threadId?: unknown } | undefined;
    expect(where?.threadId).toEqual(expect.any(Number));
    expect(where?.threadId).not.toBe(0);
    expect(inline?.code).toBe('TROUPE_TASK_MODULE');
    expect(inline?.message).toContain('no file of its own ([eval1]');
  });
});

describe('a host started with V8 options of its own (node --max-old-space-size=…)', () => {
  // A Worker refuses V8's options when they are given to it explicitly: thread nodes used to be
  // given the host's options, and every task failed with ERR_WORKER_INVALID_EXEC_ARGV.
  it('starts thread nodes', async () => {
    const outcome = await runHost(['--max-old-space-size=512', '--stack-size=900', threadPingHost]);
    expect(outcome).not.toBe('hung');
    const [ping] = outcome as Array<{ value?: { threadId?: unknown }; message?: string }>;
    expect(ping?.message).toBeUndefined();
    expect(ping?.value?.threadId).toEqual(expect.any(Number));
  });

  it('starts thread nodes when its code came from stdin too (its options given explicitly)', async () => {
    const script = `
      import { createRuntime } from '@troupe/core';
      const runtime = createRuntime({ nodes: { kind: 'thread', max: 1 } });
      const value = await runtime.build({ task: 'troupe:ping', input: null }).catch((e) => ({ error: e.message }));
      console.log(JSON.stringify(value));
      await runtime.shutdown();
    `;
    const outcome = await runHost(['--max-old-space-size=512', '--input-type=module'], script);
    expect(outcome).not.toBe('hung');
    const [ping] = outcome as Array<{ threadId?: unknown; error?: string }>;
    expect(ping?.error).toBeUndefined();
    expect(ping?.threadId).toEqual(expect.any(Number));
  });
});
