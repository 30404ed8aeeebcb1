// The job dispatcher's timeline (docs/tracing.md): a slot's steps as spans, its leases, start,
// cancel, cancel timeout, kill and result as instants, on the dispatcher's virtual clock.
import { JobDispatcher, MemoryJobServer, type TraceFileContents, TraceRecorder } from '@troupe/core';
import { InProcessJobWorkers } from '@troupe/core/internal';
import { describe, expect, it } from 'vitest';
import { settle, startOne, world } from './support/jobs.js';
import { timelineProblems, tracks } from './support/timeline.js';

const jobs = new URL('./fixtures/jobs.mjs', import.meta.url).href;

/** The slot's tracks: its jobs, and its steps with their instants, in time order. */
function slot(recorder: TraceRecorder, index = 0) {
  const all = [...tracks(JSON.parse(JSON.stringify(recorder)) as TraceFileContents).values()];
  const of = (name: string) => all.find((t) => t.process === `job slot ${index}` && t.name === name)!;
  const steps = of('steps');
  return {
    jobs: of('jobs').spans.map((s) => s.name),
    steps: steps.spans.map((s) => s.name),
    moments: steps.instants.map((i) => (i.args?.result ? `${i.name} ${i.args.result}` : i.name)),
    spans: steps.spans,
  };
}

describe('the job dispatcher timeline', () => {
  it('records every step of a job, each renewal of its lease, its start and its result', async () => {
    const recorder = new TraceRecorder();
    const w = world({ trace: recorder });
    await startOne(w);
    await w.advance(7_000);
    w.workers.started[0]!.exit({ code: 100, signal: null });
    await settle();
    const recorded = slot(recorder);
    expect(recorded.jobs).toEqual(['job-1']);
    expect(recorded.steps).toEqual([
      'awaitingPrevious',
      'firstRenewal',
      'startingWorker',
      'sendingJob',
      'running',
      'finishing',
    ]);
    // Renewed at once, then every 3 s: at 0, 3 and 6 s.
    expect(recorded.moments).toEqual([
      'lease renewed',
      'started',
      'lease renewed',
      'lease renewed',
      'result Succeeded',
    ]);
    const running = recorded.spans.find((s) => s.name === 'running')!;
    expect(running.dur).toBe(7_000_000);
    expect(running.args).toEqual({ state: 'leased.withWorker.running' });
  });

  it('records the cancel sent, the cancel timeout and the kill of a worker that ignores its cancel', async () => {
    const recorder = new TraceRecorder();
    const w = world({ trace: recorder, lease: { renewIntervalMs: 60_000 } });
    await startOne(w);
    w.dispatcher.cancel('job-1');
    await w.advance(5_100);
    await settle();
    const recorded = slot(recorder);
    expect(recorded.steps.slice(-4)).toEqual(['sendingCancel', 'awaitingExit', 'killing', 'finishing']);
    expect(recorded.moments).toEqual([
      'lease renewed',
      'started',
      'cancel sent',
      'cancel timeout',
      'kill',
      'result Canceled',
    ]);
  });

  it('records a lease lost mid-run, and the failed renewals before it', async () => {
    const recorder = new TraceRecorder();
    const w = world({ trace: recorder, leaseMs: 4_000 });
    await startOne(w);
    w.server.failRenewals('job-1');
    await w.advance(10_000);
    w.workers.started[0]!.exit({ code: 103, signal: null });
    await settle();
    const moments = slot(recorder).moments;
    expect(moments[0]).toBe('lease renewed');
    expect(moments).toContain('lease failed');
    expect(moments.filter((m) => m === 'lease lost')).toHaveLength(1);
    expect(moments.at(-1)).toBe('result Abandoned');
  });

  it("draws each job's worker node as the runtime draws its nodes, from its launch to its end", async () => {
    const recorder = new TraceRecorder();
    const server = new MemoryJobServer();
    const dispatcher = new JobDispatcher({
      source: server,
      workers: new InProcessJobWorkers(),
      trace: recorder,
    });
    server.add({ id: 'one', job: `${jobs}#resultOf`, message: { result: 'Succeeded' } });
    server.add({ id: 'two', job: `${jobs}#resultOf`, message: { result: 'Skipped' } });
    server.close();
    await dispatcher.run();
    await dispatcher.shutdown();
    const file = JSON.parse(JSON.stringify(recorder)) as TraceFileContents;
    expect(timelineProblems(file)).toEqual([]);
    const workers = [...tracks(file).values()].filter((t) => t.name === 'connection');
    expect(workers).toHaveLength(2);
    for (const worker of workers) {
      expect(worker.spans.map((s) => s.name).slice(0, 3)).toEqual(['launch', 'handshake', 'idle']);
      // A worker exits by itself with its job's code: its connection ends with it, not by an exit packet.
      expect(worker.instants.at(-1)!.name).toBe('failed');
    }
    expect(slot(recorder).moments.filter((m) => m.startsWith('result'))).toEqual([
      'result Succeeded',
      'result Skipped',
    ]);
  });
});
