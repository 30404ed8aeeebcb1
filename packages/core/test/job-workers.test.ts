// The job dispatcher with real workers: in-process endpoints running the real job runner over
// memory links, and real worker processes for exit codes, kills, crashes and captured output.
import {
  JOB_EXIT_CODES,
  type JobCompletedEvent,
  JobDispatcher,
  type JobDispatcherOptions,
  MemoryJobServer,
  ProcessJobWorkers,
} from '@troupe/core';
import { InProcessJobWorkers, type JobWorkerFactory } from '@troupe/core/internal';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  cleanupSandbox,
  createSandbox,
  isRunning,
  processesUsing,
  type Sandbox,
} from './support/processes.js';

const jobs = new URL('./fixtures/jobs.mjs', import.meta.url).href;

async function runJobs(
  workers: JobWorkerFactory,
  specs: Array<{ id: string; job: string; message?: unknown; metadata?: Record<string, unknown> }>,
  {
    during,
    leaseMs,
    ...options
  }: Partial<JobDispatcherOptions> & {
    during?: (dispatcher: JobDispatcher, server: MemoryJobServer, id: string) => void;
    leaseMs?: number;
  } = {},
) {
  const server = new MemoryJobServer({ ...(leaseMs && { leaseMs }) });
  const dispatcher = new JobDispatcher({
    source: server,
    workers,
    cancelTimeoutMs: 500,
    killTimeoutMs: 5_000,
    slots: 2,
    ...options,
  });
  const logs = new Map<string, string[]>();
  const completed: JobCompletedEvent[] = [];
  const errors: Error[] = [];
  const pids: number[] = [];
  dispatcher.on('log', (job, body) => {
    const lines = logs.get(job.id) ?? [];
    lines.push(body.message);
    logs.set(job.id, lines);
    // "waiting" means the job runs: the test's cue to act on it.
    if (body.message === 'waiting') during?.(dispatcher, server, job.id);
  });
  dispatcher.on('started', (event) => {
    if (event.pid !== undefined) pids.push(event.pid);
  });
  dispatcher.on('completed', (event) => completed.push(event));
  dispatcher.on('jobError', (_job, error) => errors.push(error));
  for (const spec of specs) server.add(spec);
  server.close();
  await dispatcher.run();
  const results = Object.fromEntries(completed.map((e) => [e.job.id, e.completion?.result]));
  return { server, logs, completed, errors, results, pids };
}

describe('job workers in process (the real endpoint and job runner, over memory links)', () => {
  it('runs jobs to their results, with log lines, metadata and cancellation', async () => {
    const run = await runJobs(
      new InProcessJobWorkers(),
      [
        { id: 'hello', job: `${jobs}#hello`, message: { name: 'world' }, metadata: { stage: 'one' } },
        { id: 'issues', job: `${jobs}#resultOf`, message: { result: 'SucceededWithIssues' } },
        { id: 'skipped', job: `${jobs}#resultOf`, message: { result: 'Skipped' } },
        { id: 'fails', job: `${jobs}#fails` },
        { id: 'cancelled', job: `${jobs}#untilCancelled` },
        { id: 'missing', job: `${jobs}#noSuchJob` },
      ],
      {
        during: (dispatcher, _server, id) => {
          if (id !== 'cancelled') return;
          // Both go down the worker's one link in this order: the job hears the update, then the cancel.
          dispatcher.updateMetadata(id, { stage: 'two' });
          dispatcher.cancel(id, 'CancelRequest', 'the user pressed stop');
        },
      },
    );
    expect(run.results).toEqual({
      hello: 'Succeeded',
      issues: 'SucceededWithIssues',
      skipped: 'Skipped',
      fails: 'Failed',
      cancelled: 'Canceled',
      missing: 'Failed',
    });
    expect(run.logs.get('hello')).toEqual(['hello world', 'metadata {"stage":"one"}']);
    expect(run.logs.get('fails')!.join('\n')).toMatch(/the job could not do its work/);
    expect(run.logs.get('missing')!.join('\n')).toMatch(/could not load job .*noSuchJob/);
    expect(run.logs.get('cancelled')).toEqual([
      'waiting',
      'metadata {"stage":"two"}',
      'cancelled: CancelRequest: the user pressed stop',
    ]);
    // A job that failed or was cancelled is a result in the table, not a crash.
    expect(run.errors).toEqual([]);
    for (const job of run.server.list()) expect(job.extraCompletions).toEqual([]);
  });

  it('kills a job that ignores its cancel, and reports it Canceled', async () => {
    const run = await runJobs(new InProcessJobWorkers(), [{ id: 'stubborn', job: `${jobs}#stubborn` }], {
      cancelTimeoutMs: 50,
      during: (dispatcher, _server, id) => dispatcher.cancel(id),
    });
    expect(run.results).toEqual({ stubborn: 'Canceled' });
    expect(run.logs.get('stubborn')).toEqual(['waiting', 'ignoring the cancel']);
  });
});

describe('job workers as processes', () => {
  let sandbox: Sandbox;
  beforeEach(async () => {
    sandbox = await createSandbox();
  });
  afterEach(async () => {
    await cleanupSandbox(sandbox);
  });

  const workers = () => new ProcessJobWorkers({ transport: sandbox.transport, launcher: sandbox.launcher });

  it('a job ends its worker process with the exit code of its result', async () => {
    const run = await runJobs(workers(), [
      { id: 'hello', job: `${jobs}#hello`, message: { name: 'process' } },
      { id: 'skipped', job: `${jobs}#resultOf`, message: { result: 'Skipped' } },
    ]);
    expect(run.results).toEqual({ hello: 'Succeeded', skipped: 'Skipped' });
    const hello = run.completed.find((e) => e.job.id === 'hello')!;
    expect(hello.completion!.exit).toEqual({ code: JOB_EXIT_CODES.Succeeded, signal: null });
    expect(run.logs.get('hello')).toEqual(['hello process', 'metadata {}']);
    expect(run.pids).toHaveLength(2);
    expect(new Set(run.pids).size).toBe(2); // never reused across jobs
    for (const pid of run.pids) expect(isRunning(pid)).toBe(false);
  });

  it('a crashed worker is Failed with its stdout and stderr attached, and an error event', async () => {
    const run = await runJobs(workers(), [
      { id: 'crash', job: `${jobs}#crash`, message: { why: 'disk on fire' } },
    ]);
    const completion = run.completed[0]!.completion!;
    expect(completion.result).toBe('Failed');
    expect(completion.exit).toEqual({ code: 3, signal: null });
    expect(completion.output).toMatch(/some stdout before the crash/);
    expect(completion.output).toMatch(/fatal: disk on fire/);
    expect(run.errors).toHaveLength(1);
    expect(run.errors[0]!.message).toMatch(/exited with code 3[\s\S]*fatal: disk on fire/);
    expect(run.logs.get('crash')).toEqual(['about to crash']);
  });

  it('cancellation reaches the job as a message; a job that ignores it is killed', async () => {
    const run = await runJobs(
      workers(),
      [
        { id: 'polite', job: `${jobs}#untilCancelled` },
        { id: 'stubborn', job: `${jobs}#stubborn` },
      ],
      { during: (dispatcher, _server, id) => dispatcher.cancel(id, 'CancelRequest', `stop ${id}`) },
    );
    expect(run.results).toEqual({ polite: 'Canceled', stubborn: 'Canceled' });
    const polite = run.completed.find((e) => e.job.id === 'polite')!.completion!;
    expect(polite.exit).toEqual({ code: JOB_EXIT_CODES.Canceled, signal: null });
    expect(run.logs.get('polite')).toContain('cancelled: CancelRequest: stop polite');
    expect(run.logs.get('stubborn')).toEqual(['waiting', 'ignoring the cancel']);
    for (const pid of run.pids) expect(isRunning(pid)).toBe(false);
    expect(processesUsing(sandbox.directory)).toEqual([]);
  });

  it('a lost lease abandons the job and stops its worker', async () => {
    const run = await runJobs(workers(), [{ id: 'leased', job: `${jobs}#untilCancelled` }], {
      leaseMs: 300,
      lease: { renewIntervalMs: 50, retryStartMs: 20, retryMaxMs: 50 },
      // Every renewal from now on is refused, so the lease runs out.
      during: (_dispatcher, server, id) => server.failRenewals(id),
    });
    expect(run.results).toEqual({ leased: 'Abandoned' });
    expect(run.logs.get('leased')!.join('\n')).toMatch(/cancelled: CancelRequest: the job's lease was lost/);
    for (const pid of run.pids) expect(isRunning(pid)).toBe(false);
  });

  it('a worker whose host goes away ends as Abandoned, even when its job ignores the cancel', async () => {
    const factory = workers();
    const job = { id: 'orphan', job: `${jobs}#stubborn`, message: null, lease: 'l' };
    const worker = await factory.start(job);
    const waiting = new Promise<void>((resolve) =>
      worker.onLog((body) => {
        if (body.message === 'waiting') resolve();
      }),
    );
    await worker.send('JobRequest', { jobId: job.id, job: job.job, message: null });
    await waiting;
    // The host lets go of the node as if it had ended: the worker must not stay behind.
    await factory.provider.nodes[0]!.close({ reuse: false });
    expect(await worker.exited).toEqual({ code: JOB_EXIT_CODES.Abandoned, signal: null });
    await worker.dispose();
    expect(isRunning(worker.pid!)).toBe(false);
  });
});
