// When `JobDispatcher.run()` ends: the README's "add jobs, run them" and an agent that serves a
// queue for good, on a virtual clock with workers that finish as soon as they get their job.
import {
  JOB_EXIT_CODES,
  JobDispatcher,
  type JobResult,
  MemoryJobServer,
  type NodeExit,
  type PacketBodies,
  TaskModuleError,
} from '@troupe/core';
import type { JobPacket, JobWorker, JobWorkerFactory } from '@troupe/core/internal';
import { VirtualClock } from '@troupe/testing';
import { describe, expect, it } from 'vitest';

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** A worker that exits with the result its job message asks for, once the message is sent. */
class FinishingWorker implements JobWorker {
  readonly pid = undefined;
  readonly exited: Promise<NodeExit>;
  released = false;
  #exit!: (exit: NodeExit) => void;

  constructor(readonly id: string) {
    this.exited = new Promise((resolve) => {
      this.#exit = resolve;
    });
  }

  async send<K extends JobPacket>(kind: K, body: PacketBodies[K]): Promise<void> {
    if (kind !== 'JobRequest') return;
    const { result } = (body as PacketBodies['JobRequest']).message as { result: JobResult };
    queueMicrotask(() => this.#exit({ code: JOB_EXIT_CODES[result], signal: null }));
  }

  output(): string {
    return '';
  }

  kill(): void {
    this.#exit({ code: null, signal: 'SIGKILL' });
  }

  onLog(): void {}

  async dispose(): Promise<void> {
    this.released = true;
  }
}

function agent(slots: number) {
  const clock = new VirtualClock();
  const server = new MemoryJobServer({ clock });
  const started: FinishingWorker[] = [];
  const workers: JobWorkerFactory = {
    start: async (job) => {
      const worker = new FinishingWorker(`worker-${job.id}`);
      started.push(worker);
      return worker;
    },
  };
  const dispatcher = new JobDispatcher({ source: server, workers, slots, clock });
  let ended = false;
  const running = dispatcher.run().then(() => {
    ended = true;
  });
  return { server, started, dispatcher, running, ended: () => ended };
}

describe('JobDispatcher.run()', () => {
  it('ends once the source is closed and drained, after every job is reported and its worker released', async () => {
    const a = agent(2);
    const results: JobResult[] = ['Succeeded', 'Failed', 'SucceededWithIssues'];
    for (const [i, result] of results.entries())
      a.server.add({ id: `job-${i}`, job: 'jobs.mjs#x', message: { result } });
    a.server.close();
    await a.running;
    expect(a.server.list().map((job) => [job.id, job.status, job.completion?.result])).toEqual([
      ['job-0', 'completed', 'Succeeded'],
      ['job-1', 'completed', 'Failed'],
      ['job-2', 'completed', 'SucceededWithIssues'],
    ]);
    expect(a.started.map((worker) => worker.released)).toEqual([true, true, true]);
    expect(a.dispatcher.states).toEqual(['idle', 'idle']);
  });

  it('waits on an open source, runs a job added later, and ends when the source closes', async () => {
    const a = agent(1);
    a.server.add({ id: 'first', job: 'jobs.mjs#x', message: { result: 'Succeeded' } });
    await settle();
    expect(a.server.get('first')!.completion?.result).toBe('Succeeded');
    expect(a.ended()).toBe(false);
    a.server.add({ id: 'later', job: 'jobs.mjs#x', message: { result: 'Skipped' } });
    await settle();
    expect(a.server.get('later')!.completion?.result).toBe('Skipped');
    expect(a.ended()).toBe(false);
    a.server.close();
    await a.running;
    expect(a.ended()).toBe(true);
  });

  it('waits on an open source until shutdown()', async () => {
    const a = agent(2);
    await settle();
    expect(a.ended()).toBe(false);
    await a.dispatcher.shutdown();
    await a.running;
    expect(a.ended()).toBe(true);
    expect(a.started).toEqual([]);
  });

  it('refuses a job whose module a worker could not load: a relative path', () => {
    const server = new MemoryJobServer();
    expect(() => server.add({ job: './jobs.mjs#deploy' })).toThrow(TaskModuleError);
    expect(() => server.add({ job: './jobs.mjs#deploy' })).toThrow(/relative path.*file URL/);
    expect(server.list()).toEqual([]);
  });
});
