// A runtime of thread nodes starts its first node's worker as it is created (ThreadNodeProvider
// `prestart`), so that Node's start of the worker overlaps the host's own cold start: the first
// node is that worker, a runtime shut down before any build ends it, and one never shut down
// is not kept alive by it.
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { createRuntime, type Runtime } from '@troupe/core';
import { afterEach, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const tasks = new URL('./fixtures/graph-tasks.mjs', import.meta.url).href;
const neverBuilt = fileURLToPath(new URL('./fixtures/never-built-host.mjs', import.meta.url));

/** A worker that ends at once; its thread id is the next one Node hands out. */
async function plainWorker(): Promise<number> {
  const worker = new Worker('', { eval: true });
  const id = worker.threadId;
  await new Promise((resolve) => worker.once('exit', resolve));
  return id;
}

/** Whether `check` holds within 10 s, asked every 10 ms. */
async function until(check: () => Promise<boolean>): Promise<boolean> {
  for (let waited = 0; waited < 10_000; waited += 10) {
    if (await check()) return true;
    await sleep(10);
  }
  return check();
}

describe('thread nodes started with their runtime', () => {
  let runtime: Runtime | undefined;
  afterEach(async () => {
    await runtime?.shutdown();
    runtime = undefined;
  });

  it('the first node runs in the worker started when the runtime was created', async () => {
    runtime = createRuntime({ nodes: { kind: 'thread', max: 1 }, trace: false });
    // Started after the runtime was created and before its first build.
    const after = await plainWorker();
    const where = await runtime.build<{ pid: number; threadId: number }>({
      task: `${tasks}#whereThreadSafe`,
      input: 'first',
    });
    expect(where.pid).toBe(process.pid);
    expect(where.threadId).toBeGreaterThan(0);
    expect(where.threadId).toBeLessThan(after);
  });

  // Threads counted by the OS (Linux): an unreferenced worker shows in no Node resource list.
  it.runIf(process.platform === 'linux')(
    'a runtime shut down before any build ends the worker it started',
    async () => {
      // Warm: Node's first worker and libuv's pool start threads of their own.
      await plainWorker();
      await readdir('/proc/self/task');
      const threads = async () => (await readdir('/proc/self/task')).length;
      const before = await threads();
      const created = createRuntime({ nodes: { kind: 'thread', max: 1 }, trace: false });
      expect(await until(async () => (await threads()) === before + 1)).toBe(true);
      await created.shutdown();
      expect(await until(async () => (await threads()) === before)).toBe(true);
    },
  );

  it('a runtime never used nor shut down does not keep its process alive', async () => {
    const { stdout } = await run(process.execPath, [neverBuilt], { timeout: 20_000 });
    expect(stdout).toBe('created\n');
  });
});
