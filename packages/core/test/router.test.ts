import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRuntime, defineTask, type Runtime } from '@troupe/core';
import { isMultiThreadable, TaskRouter } from '@troupe/core/internal';
import { PipeTransport } from '@troupe/transport';
import { afterEach, describe, expect, it } from 'vitest';

const tasks = new URL('./fixtures/graph-tasks.mjs', import.meta.url).href;

describe('task router', () => {
  /** A task as another installed copy of @troupe/core would make it: only the registered symbols in common. */
  const foreignTask = (multiThreadable: boolean) => ({
    name: 'foreign',
    [Symbol.for('troupe.task')]: true,
    [Symbol.for('troupe.task.multiThreadable')]: multiThreadable,
  });

  function routerOver(modules: Record<string, Record<string, unknown>>) {
    const loads: string[] = [];
    const router = new TaskRouter(async (specifier) => {
      loads.push(specifier);
      const module = modules[specifier];
      if (!module) throw new Error(`no module ${specifier}`);
      return module;
    });
    return { router, loads };
  }

  it('defineTask finds the module that called it even where stack traces are turned off', () => {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      const task = defineTask({ name: 'here', run: () => 1 });
      expect(task.id).toBe(`${import.meta.url}#here`);
      expect(Error.stackTraceLimit).toBe(0);
    } finally {
      Error.stackTraceLimit = limit;
    }
  });

  it('sends thread-safe tasks to threads and every other task to the task host', async () => {
    const safe = defineTask({ name: 'safe', multiThreadable: true, module: 'm', run: () => 1 });
    const unsafe = defineTask({ name: 'unsafe', module: 'm', run: () => 2 });
    const { router } = routerOver({ m: { safe, unsafe } });
    expect(await router.route({ task: 'm#safe', input: null })).toBe('thread');
    expect(await router.route({ task: 'm#unsafe', input: null })).toBe('task-host');
    expect(await router.route({ task: 'm#safe', input: null, outOfProcess: true })).toBe('task-host');
    expect(await router.route({ task: 'troupe:ping', input: null })).toBe('thread');
    expect(await router.route({ task: 'nowhere#x', input: null })).toBe('task-host');
  });

  it('recognises the marker by its registered name, so a task from another copy of troupe counts', async () => {
    const { router } = routerOver({ other: { yes: foreignTask(true), no: foreignTask(false) } });
    expect(isMultiThreadable(foreignTask(true))).toBe(true);
    expect(await router.route({ task: 'other#yes', input: null })).toBe('thread');
    expect(await router.route({ task: 'other#no', input: null })).toBe('task-host');
  });

  it('decides once per task and answers later requests without waiting', async () => {
    const safe = defineTask({ name: 'safe', multiThreadable: true, module: 'm', run: () => 1 });
    const { router, loads } = routerOver({ m: { safe } });
    const [a, b] = await Promise.all([
      router.route({ task: 'm#safe', input: 1 }),
      router.route({ task: 'm#safe', input: 2 }),
    ]);
    expect([a, b]).toEqual(['thread', 'thread']);
    expect(router.route({ task: 'm#safe', input: 3 })).toBe('thread');
    expect(loads).toEqual(['m']);
    expect(router.decisions.get('m#safe')).toBe('thread');
  });
});

describe('multi-threaded runtime', () => {
  let runtime: Runtime | undefined;
  let directory: string | undefined;
  afterEach(async () => {
    await runtime?.shutdown();
    runtime = undefined;
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it('runs a thread-safe task on a thread node and the rest in an isolated task-host process', async () => {
    directory = await mkdtemp(join(tmpdir(), 'troupe-router-'));
    runtime = createRuntime({
      nodes: { kind: 'multi-threaded', max: 2, process: { transport: new PipeTransport({ directory }) } },
    });
    const safe = (await runtime.build({ task: `${tasks}#whereThreadSafe`, input: 1 })) as {
      pid: number;
      threadId: number;
    };
    expect(safe.pid).toBe(process.pid);
    expect(safe.threadId).toBeGreaterThan(0);
    const isolated = (await runtime.build({ task: `${tasks}#whereIsolated`, input: 1 })) as {
      pid: number;
      inner: { pid: number; threadId: number };
    };
    expect(isolated.pid).not.toBe(process.pid);
    expect(isolated.inner.pid).toBe(process.pid);
    expect(isolated.inner.threadId).toBeGreaterThan(0);
    const forced = (await runtime.build({
      task: `${tasks}#whereThreadSafe`,
      input: 2,
      outOfProcess: true,
    })) as {
      pid: number;
    };
    expect(forced.pid).toBe(isolated.pid);
    expect(runtime.router?.decisions.get(`${tasks}#whereIsolated`)).toBe('task-host');
  });
});
