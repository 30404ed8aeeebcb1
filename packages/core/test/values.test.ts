// Values that cross between host and nodes keep structured-clone semantics on every node kind,
// both ways (as a task's input and as its result); what cannot cross fails on the sending side
// naming its path; thrown non-Errors and failed jobs say readably why.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createRuntime,
  type JobCompletedEvent,
  JobDispatcher,
  MemoryJobServer,
  ProcessJobWorkers,
  type Runtime,
  TaskFailedError,
} from '@troupe/core';
import { InProcessJobWorkers, type JobWorkerFactory } from '@troupe/core/internal';
import { PipeTransport, ValueNotCloneableError } from '@troupe/transport';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ES module fixture, without types
import { samples, seen } from './fixtures/values-tasks.mjs';
import { cleanupSandbox, createSandbox, type Sandbox } from './support/processes.js';

const fixture = new URL('./fixtures/values-tasks.mjs', import.meta.url).href;
const task = (name: string) => `${fixture}#${name}`;
const tag = (value: unknown) => Object.prototype.toString.call(value);
const sample = (name: string): unknown => (samples() as Record<string, unknown>)[name];
const names = Object.keys(samples() as object);

type Kind = 'inproc' | 'thread' | 'process';

describe.each<Kind>(['inproc', 'thread', 'process'])('values on %s nodes', (kind) => {
  let runtime: Runtime;
  let directory: string | undefined;
  beforeAll(async () => {
    if (kind === 'process') directory = await mkdtemp(join(tmpdir(), 'troupe-values-'));
    runtime = createRuntime({
      nodes: {
        kind,
        max: 1,
        ...(directory && { process: { transport: new PipeTransport({ directory }) } }),
      },
    });
  });
  afterAll(async () => {
    await runtime.shutdown();
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it('each kind of value reaches the task as itself (one request per distinct input)', async () => {
    const results = await runtime.build<{ type: string; seen: string; value: unknown }>(
      names.map((name) => ({ task: task('echo'), input: sample(name) })),
    );
    for (const [index, name] of names.entries()) {
      const expected = sample(name);
      expect({ name, type: results[index]!.type }).toEqual({ name, type: tag(expected) });
      expect({ name, seen: results[index]!.seen }).toEqual({ name, seen: seen(expected) });
      // ...and, sent back as part of the result, it reaches the host as itself again.
      expect({ name, back: seen(results[index]!.value) }).toEqual({ name, back: seen(expected) });
    }
  });

  it('each kind of value a task makes reaches the host as itself', async () => {
    const results = await runtime.build(names.map((name) => ({ task: task('make'), input: name })));
    for (const [index, name] of names.entries()) {
      expect({ name, type: tag(results[index]) }).toEqual({ name, type: tag(sample(name)) });
      expect({ name, seen: seen(results[index]) }).toEqual({ name, seen: seen(sample(name)) });
    }
    const [cyclic, shared] = (await runtime.build([
      { task: task('make'), input: 'cyclic' },
      { task: task('make'), input: 'shared' },
    ])) as [{ self: unknown }, unknown[]];
    expect(cyclic.self).toBe(cyclic);
    expect(shared[0]).toBe(shared[1]);
  });

  it('a returned Error arrives as an Error; a class instance as its own fields', async () => {
    const { error } = (await runtime.build({ task: task('returnsError'), input: null })) as { error: Error };
    expect(error).toBeInstanceOf(TypeError);
    expect([error.name, error.message, error.cause]).toEqual([
      'TypeError',
      'returned, not thrown',
      'a cause',
    ]);
    const point = await runtime.build({ task: task('returnsPoint'), input: null });
    expect(tag(point)).toBe('[object Object]');
    expect(point).toEqual({ x: 3, y: 4 });
  });

  it('a result that cannot cross fails its task with the path of what cannot', async () => {
    const failures = await Promise.all(
      ['returnsFunction', 'returnsSymbol'].map((name) =>
        runtime.build({ task: task(name), input: null }).then(
          () => undefined,
          (error: unknown) => error,
        ),
      ),
    );
    expect(failures[0]).toBeInstanceOf(TaskFailedError);
    expect((failures[0] as TaskFailedError).message).toContain('result.handlers[2].onDone is a function');
    expect((failures[0] as TaskFailedError).remoteCode).toBe(ValueNotCloneableError.code);
    expect((failures[1] as TaskFailedError).message).toContain('result.get("key") is a symbol');
  });

  it('a ctx.build input that cannot cross throws in the task, naming its path', async () => {
    expect(await runtime.build({ task: task('buildsFunction'), input: null })).toMatch(
      /^ctx\.build threw: requests\[0\]\.input\.callback is a function/,
    );
  });

  it('a thrown non-Error reads as the value it was', async () => {
    const messages = await Promise.all(
      ['throwsObject', 'throwsString', 'throwsNumber'].map((name) =>
        runtime.build({ task: task(name), input: null }).then(
          () => 'resolved',
          (error: Error) => error.message,
        ),
      ),
    );
    expect(messages[0]).toMatch(/failed on node \S+: \{ code: 42, reason: 'busy', at: \[ 1, 2 \] \}$/);
    expect(messages[1]).toMatch(/failed on node \S+: plain words$/);
    expect(messages[2]).toMatch(/failed on node \S+: 404$/);
  });
});

describe('a build input that cannot cross', () => {
  let runtime: Runtime | undefined;
  afterEach(async () => {
    await runtime?.shutdown();
    runtime = undefined;
  });

  it('rejects runtime.build with its path, and no request of the batch is submitted', async () => {
    runtime = createRuntime({ nodes: { kind: 'inproc', max: 1 } });
    const build = runtime.build([
      { task: task('echo'), input: 1 },
      { task: task('echo'), input: { steps: [{ run: () => {} }] } },
    ]);
    await expect(build).rejects.toThrow(ValueNotCloneableError);
    await expect(build).rejects.toThrow('input.steps[0].run is a function');
    expect(runtime.scheduler.unfinished).toBe(0);
    await expect(runtime.build({ task: task('echo'), input: new Set([Symbol('s')]) })).rejects.toThrow(
      'input.<member 0> is a symbol',
    );
  });
});

describe.each<'inproc' | 'process'>(['inproc', 'process'])('jobs on %s workers', (kind) => {
  let sandbox: Sandbox | undefined;
  beforeEach(async () => {
    if (kind === 'process') sandbox = await createSandbox();
  });
  afterEach(async () => {
    if (sandbox) await cleanupSandbox(sandbox);
    sandbox = undefined;
  });

  const workers = (): JobWorkerFactory =>
    sandbox
      ? new ProcessJobWorkers({ transport: sandbox.transport, launcher: sandbox.launcher })
      : new InProcessJobWorkers();

  async function run(specs: Array<{ id: string; job: string; message?: unknown }>) {
    const server = new MemoryJobServer();
    const dispatcher = new JobDispatcher({ source: server, workers: workers(), slots: 1 });
    const completed = new Map<string, JobCompletedEvent>();
    const logs = new Map<string, string[]>();
    dispatcher.on('completed', (event) => completed.set(event.job.id, event));
    dispatcher.on('log', (job, body) => logs.set(job.id, [...(logs.get(job.id) ?? []), body.message]));
    for (const spec of specs) server.add(spec);
    server.close();
    await dispatcher.run();
    return { completed, logs };
  }

  it('a job that throws completes Failed with what it threw, message and stack', async () => {
    const { completed } = await run([
      { id: 'error', job: task('jobThrows') },
      { id: 'object', job: task('jobThrowsObject') },
    ]);
    const error = completed.get('error')!.completion!;
    expect(error.result).toBe('Failed');
    expect(error.reason).toMatch(/^the job failed: Error: the job broke\n\s+at /);
    expect(error.reason).toContain('values-tasks.mjs');
    const object = completed.get('object')!.completion!;
    expect(object.result).toBe('Failed');
    expect(object.reason).toBe("the job failed: { step: 'deploy', code: 7 }");
  });

  it("a job's message reaches it as itself", async () => {
    const message = samples();
    const { completed, logs } = await run([{ id: 'sees', job: task('jobSeesMessage'), message }]);
    expect(completed.get('sees')!.completion!.result).toBe('Succeeded');
    expect(logs.get('sees')).toEqual([seen(message)]);
  });
});
