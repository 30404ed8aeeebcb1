import { type JobCompletedEvent, JobDispatcher, type JobRequest, MemoryJobServer } from '@troupe/core';
import { type JobWorker, type JobWorkerFactory, WarmJobWorkers } from '@troupe/core/internal';
import { describe, expect, it } from 'vitest';

const jobs = new URL('./fixtures/jobs.mjs', import.meta.url).href;

/** Which warm worker ran each job: a handle's id is `<worker>.<its job count>`. */
class Recording implements JobWorkerFactory {
  readonly workerOf = new Map<string, string>();
  constructor(readonly inner: WarmJobWorkers) {}
  async start(job: JobRequest): Promise<JobWorker> {
    const worker = await this.inner.start(job);
    this.workerOf.set(job.id, worker.id.slice(0, worker.id.lastIndexOf('.')));
    return worker;
  }
}

async function runJobs(
  specs: Array<{ id: string; job: string; message?: unknown }>,
  { slots, cancel = [] }: { slots: number; cancel?: string[] },
) {
  const warm = new WarmJobWorkers();
  const workers = new Recording(warm);
  const server = new MemoryJobServer();
  const dispatcher = new JobDispatcher({
    source: server,
    workers,
    slots,
    cancelTimeoutMs: 50,
    killTimeoutMs: 5_000,
    trace: false,
  });
  const logs = new Map<string, string[]>();
  const completed: JobCompletedEvent[] = [];
  const errors: Error[] = [];
  dispatcher.on('log', (job, body) => {
    logs.set(job.id, [...(logs.get(job.id) ?? []), body.message]);
    if (body.message === 'waiting' && cancel.includes(job.id)) dispatcher.cancel(job.id);
  });
  dispatcher.on('completed', (event) => completed.push(event));
  dispatcher.on('jobError', (_job, error) => errors.push(error));
  for (const spec of specs) server.add(spec);
  server.close();
  await dispatcher.run();
  const results = Object.fromEntries(completed.map((e) => [e.job.id, e.completion?.result]));
  return { warm, workerOf: workers.workerOf, server, logs, completed, errors, results };
}

describe('warm in-process job workers', () => {
  it('runs N jobs on 2 slots with at most 2 workers, each job with its own id, message and result', async () => {
    const outcomes = ['Succeeded', 'SucceededWithIssues', 'Skipped', 'Failed'] as const;
    const specs = Array.from({ length: 12 }, (_, i) => ({
      id: `job-${i}`,
      job: `${jobs}#whoAmI`,
      message: { tag: `tag-${i}`, result: outcomes[i % outcomes.length] },
    }));
    const run = await runJobs(specs, { slots: 2 });
    expect(run.results).toEqual(
      Object.fromEntries(specs.map((spec, i) => [spec.id, outcomes[i % outcomes.length]])),
    );
    for (const [i, spec] of specs.entries()) expect(run.logs.get(spec.id)).toEqual([`${spec.id} tag-${i}`]);
    expect(run.warm.created).toBeLessThanOrEqual(2);
    expect(new Set(run.workerOf.values()).size).toBe(run.warm.created);
    expect(run.warm.idle).toBe(run.warm.created);
    expect(run.errors).toEqual([]);
    for (const job of run.server.list()) expect(job.extraCompletions).toEqual([]);
  });

  it('reuses a worker after a job that failed, never after one that was cancelled or killed', async () => {
    const run = await runJobs(
      [
        { id: 'fails', job: `${jobs}#fails` },
        { id: 'after-fails', job: `${jobs}#whoAmI`, message: { tag: 'a' } },
        { id: 'cancelled', job: `${jobs}#untilCancelled` },
        { id: 'after-cancelled', job: `${jobs}#whoAmI`, message: { tag: 'b' } },
        // Ignores its cancel: killed once the cancel timeout passes.
        { id: 'killed', job: `${jobs}#stubborn` },
        { id: 'after-killed', job: `${jobs}#whoAmI`, message: { tag: 'c' } },
      ],
      // One slot: the jobs run in the order they were added, each on the worker the last one left.
      { slots: 1, cancel: ['cancelled', 'killed'] },
    );
    expect(run.results).toEqual({
      fails: 'Failed',
      'after-fails': 'Succeeded',
      cancelled: 'Canceled',
      'after-cancelled': 'Succeeded',
      killed: 'Canceled',
      'after-killed': 'Succeeded',
    });
    expect(Object.fromEntries(run.workerOf)).toEqual({
      fails: 'warm-1',
      'after-fails': 'warm-1',
      cancelled: 'warm-1',
      'after-cancelled': 'warm-2',
      killed: 'warm-2',
      'after-killed': 'warm-3',
    });
    const killed = run.completed.find((e) => e.job.id === 'killed')!;
    expect(killed.completion!.exit).toEqual({ code: null, signal: 'SIGKILL' });
    expect(run.logs.get('after-killed')).toEqual(['after-killed c']);
    // The failure's stack travels with its result, as from a node.
    const fails = run.completed.find((e) => e.job.id === 'fails')!;
    expect(fails.completion!.reason).toMatch(/the job could not do its work/);
    expect(run.warm.idle).toBe(1);
  });

  it('a killed job is gone at once: its exit is SIGKILL, nothing it says reaches the host, nothing reaches it', async () => {
    const warm = new WarmJobWorkers();
    const worker = await warm.start({ id: 'j', job: `${jobs}#untilCancelled` } as JobRequest);
    const lines: string[] = [];
    worker.onLog((body) => lines.push(body.message));
    await worker.send('JobRequest', { jobId: 'j', job: `${jobs}#untilCancelled`, message: undefined });
    await expect.poll(() => lines).toEqual(['waiting']);
    worker.kill();
    expect(await worker.exited).toEqual({ code: null, signal: 'SIGKILL' });
    // The kill aborted the job's signal: its "cancelled" line was written after the kill.
    expect(lines).toEqual(['waiting']);
    await expect(
      worker.send('JobCancel', { jobId: 'j', kind: 'CancelRequest', reason: 'late' }),
    ).rejects.toThrow(/was killed/);
    await worker.dispose();
    expect(warm.idle).toBe(0);
  });
});
