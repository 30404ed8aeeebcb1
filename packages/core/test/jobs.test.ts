// The job dispatcher's machine, step by step and race by race, on a virtual clock with scripted
// workers: nothing here waits on real time.
import {
  JobDispatcher,
  type JobSource,
  JobWorkerCrashedError,
  LeaseLostError,
  MemoryJobServer,
} from '@troupe/core';
import { VirtualClock } from '@troupe/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { holdJobMessage, type SendMode, settle, startOne, world } from './support/jobs.js';

describe('job dispatcher: the steps', () => {
  it('runs a job through every step, in order, and reports the exit code as the result', async () => {
    const w = world();
    const job = await startOne(w);
    const worker = w.workers.started[0]!;
    expect(worker.kinds()).toEqual(['JobRequest']);
    expect(worker.sent[0]!.body).toMatchObject({
      jobId: job.id,
      job: 'jobs.mjs#hello',
      message: { name: 'job-1' },
    });
    expect(w.dispatcher.states[0]).toEqual({ leased: { withWorker: 'running' } });
    worker.exit({ code: 100, signal: null });
    await settle();
    expect(w.server.get(job.id)!.completion).toMatchObject({ result: 'Succeeded' });
    expect(w.order).toEqual(['started job-1', 'reported job-1 Succeeded', 'completed job-1']);
    expect(w.states).toEqual([
      '"awaitingPrevious"',
      '{"leased":"firstRenewal"}',
      '{"leased":"startingWorker"}',
      '{"leased":{"withWorker":"sendingJob"}}',
      '{"leased":{"withWorker":"running"}}',
      '"finishing"',
      '"idle"',
    ]);
    expect(worker.disposed).toBe(1);
  });

  it('maps every exit code in the table to its result', async () => {
    const codes = {
      100: 'Succeeded',
      101: 'SucceededWithIssues',
      102: 'Failed',
      103: 'Canceled',
      104: 'Skipped',
      105: 'Abandoned',
    };
    for (const [code, result] of Object.entries(codes)) {
      const w = world();
      const job = await startOne(w);
      w.workers.started[0]!.exit({ code: Number(code), signal: null });
      await settle();
      expect(w.server.get(job.id)!.completion!.result).toBe(result);
      expect(w.errors).toEqual([]);
    }
  });

  it('renews the lease while the job runs, and stops renewing before it reports', async () => {
    const w = world();
    const job = await startOne(w);
    await w.advance(10_000);
    expect(w.renewals.length).toBe(4); // at start, then every 3 s
    w.workers.started[0]!.exit({ code: 100, signal: null });
    await settle();
    const atReport = w.renewals.length;
    await w.advance(20_000);
    expect(w.renewals.length).toBe(atReport);
    expect(w.server.get(job.id)!.renewals).toBe(4);
  });

  it('waits for the previous job of the slot to finish completely before the next one (step 1)', async () => {
    const w = world();
    let release!: () => void;
    w.workers.prepare = (worker) => {
      if (worker.id === 'worker-1')
        worker.dispose = () =>
          new Promise<void>((resolve) => {
            release = resolve;
          });
    };
    await startOne(w, 'job-1');
    w.workers.started[0]!.exit({ code: 100, signal: null });
    await settle();
    expect(w.dispatcher.states[0]).toBe('idle');
    await startOne(w, 'job-2');
    expect(w.dispatcher.states[0]).toBe('awaitingPrevious');
    expect(w.renewals).toEqual(['job-1']);
    release();
    await settle();
    expect(w.dispatcher.states[0]).toEqual({ leased: { withWorker: 'running' } });
    expect(w.renewals).toEqual(['job-1', 'job-2']);
  });

  it('never starts a worker when the first renewal never succeeds, and reports no result (step 2)', async () => {
    const w = world();
    w.server.add({ id: 'job-1', job: 'jobs.mjs#hello' });
    w.server.failRenewals('job-1');
    const job = (await w.server.take())!;
    const done = w.dispatcher.dispatch(job);
    await w.advance(10_000);
    const event = await done;
    expect(w.workers.started).toEqual([]);
    expect(event.completion).toBeUndefined();
    expect(event.reason).toMatch(/lease was never renewed/);
    expect(w.renewals).toEqual(['job-1', 'job-1', 'job-1']);
    expect(w.server.get('job-1')!.completion).toBeUndefined();
  });

  it('completes as Canceled, without a worker, when cancelled before the first renewal succeeds (step 2)', async () => {
    const w = world();
    let renewCalls = 0;
    const hanging: JobSource = {
      take: (s) => w.server.take(s),
      renew: () => {
        renewCalls++;
        return new Promise(() => {});
      },
      complete: (j, c) => w.server.complete(j, c),
    };
    const dispatcher = new JobDispatcher({ source: hanging, workers: w.workers, clock: w.clock });
    w.server.add({ id: 'job-1', job: 'jobs.mjs#hello' });
    const job = (await w.server.take())!;
    const done = dispatcher.dispatch(job);
    await settle();
    expect(dispatcher.states[0]).toEqual({ leased: 'firstRenewal' });
    dispatcher.cancel('job-1');
    const event = await done;
    expect(event.completion).toMatchObject({ result: 'Canceled' });
    expect(w.workers.started).toEqual([]);
    expect(renewCalls).toBe(1);
  });

  it('kills the worker and reports no result when the job message is not sent in time (step 4)', async () => {
    const w = world();
    w.workers.prepare = (worker) => {
      worker.mode.JobRequest = 'hang';
    };
    const job = await startOne(w);
    await w.advance(1_000);
    const worker = w.workers.started[0]!;
    expect(worker.killed).toBe(1);
    expect(w.completed).toHaveLength(1);
    expect(w.completed[0]!.completion).toBeUndefined();
    expect(w.completed[0]!.reason).toMatch(/not sent within 1000 ms/);
    expect(w.server.get(job.id)!.completion).toBeUndefined();
    expect(w.order).toEqual(['completed job-1']); // never announced as started
    const renewals = w.renewals.length;
    await w.advance(10_000);
    expect(w.renewals.length).toBe(renewals);
  });

  it('reports a launch failure as Failed with the reason', async () => {
    const w = world();
    w.workers.failure = new Error('could not start a node after 10 attempts');
    const job = await startOne(w);
    expect(w.server.get(job.id)!.completion).toMatchObject({
      result: 'Failed',
      reason: expect.stringMatching(/worker did not start: could not start a node/),
    });
  });

  it('attaches the output of a worker that exits outside the table, to the result and an error event', async () => {
    const w = world();
    const job = await startOne(w);
    const worker = w.workers.started[0]!;
    worker.outputText = 'fatal: out of memory';
    worker.exit({ code: 3, signal: null });
    await settle();
    const completion = w.server.get(job.id)!.completion!;
    expect(completion).toMatchObject({
      result: 'Failed',
      exit: { code: 3, signal: null },
      output: 'fatal: out of memory',
    });
    expect(w.errors).toHaveLength(1);
    expect(w.errors[0]).toBeInstanceOf(JobWorkerCrashedError);
    expect(w.errors[0]!.message).toMatch(/exited with code 3[\s\S]*fatal: out of memory/);
  });

  it('forwards metadata updates to the running job and keeps waiting', async () => {
    const w = world();
    await startOne(w);
    const worker = w.workers.started[0]!;
    expect(w.dispatcher.updateMetadata('job-1', { stage: 'two' })).toBe(true);
    await settle();
    expect(worker.sent[1]).toEqual({
      kind: 'MetadataUpdate',
      body: { requestId: 'job-1', metadata: { stage: 'two' } },
    });
    expect(w.dispatcher.states[0]).toEqual({ leased: { withWorker: 'running' } });
    expect(w.dispatcher.updateMetadata('job-9', {})).toBe(false);
  });

  it('streams log lines from the worker', async () => {
    const w = world();
    const lines: string[] = [];
    w.dispatcher.on('log', (job, body) => lines.push(`${job.id}: ${body.message}`));
    await startOne(w);
    w.workers.started[0]!.log('compiling');
    expect(lines).toEqual(['job-1: compiling']);
  });
});

describe('job dispatcher: cancellation and lease loss (step 7)', () => {
  it('sends a cancel of the asked kind and reports Canceled when the worker exits', async () => {
    const w = world();
    const job = await startOne(w);
    const worker = w.workers.started[0]!;
    w.dispatcher.cancel('job-1', 'OperatingSystemShutdown', 'the machine is going down');
    await settle();
    expect(worker.sent[1]).toEqual({
      kind: 'JobCancel',
      body: { jobId: 'job-1', kind: 'OperatingSystemShutdown', reason: 'the machine is going down' },
    });
    expect(w.dispatcher.states[0]).toEqual({ leased: { withWorker: { cancelling: 'awaitingExit' } } });
    worker.exit({ code: 103, signal: null });
    await settle();
    expect(w.server.get(job.id)!.completion).toMatchObject({
      result: 'Canceled',
      reason: 'the machine is going down',
    });
    expect(worker.killed).toBe(0);
  });

  it('kills a worker that ignores its cancel once the cancel timeout passes', async () => {
    const w = world();
    const job = await startOne(w);
    const worker = w.workers.started[0]!;
    w.dispatcher.cancel('job-1');
    await w.advance(4_900);
    expect(worker.killed).toBe(0);
    await w.advance(200);
    expect(worker.killed).toBe(1);
    await settle();
    expect(w.server.get(job.id)!.completion).toMatchObject({ result: 'Canceled' });
    expect(w.server.get(job.id)!.extraCompletions).toEqual([]);
  });

  it('kills at once when the cancel message cannot be sent', async () => {
    const w = world();
    w.workers.prepare = (worker) => {
      worker.mode.JobCancel = 'fail';
    };
    const job = await startOne(w);
    w.dispatcher.cancel('job-1');
    await settle();
    expect(w.workers.started[0]!.killed).toBe(1);
    expect(w.server.get(job.id)!.completion).toMatchObject({ result: 'Canceled' });
  });

  it('kills when the cancel message is not sent within the channel timeout', async () => {
    const w = world();
    w.workers.prepare = (worker) => {
      worker.mode.JobCancel = 'hang';
    };
    await startOne(w);
    w.dispatcher.cancel('job-1');
    await w.advance(900);
    expect(w.workers.started[0]!.killed).toBe(0);
    await w.advance(200);
    expect(w.workers.started[0]!.killed).toBe(1);
  });

  it('finishes even when a killed worker does not go away, after the kill timeout', async () => {
    const w = world();
    w.workers.prepare = (worker) => {
      worker.dies = false;
    };
    const job = await startOne(w);
    w.dispatcher.cancel('job-1');
    await settle();
    await w.advance(5_000);
    expect(w.workers.started[0]!.killed).toBe(1);
    expect(w.server.get(job.id)!.completion).toBeUndefined();
    await w.advance(2_000);
    expect(w.server.get(job.id)!.completion).toMatchObject({ result: 'Canceled' });
  });

  it('abandons the job when the lease is lost mid-run: cancel, then Abandoned', async () => {
    const w = world({ leaseMs: 4_000 });
    const job = await startOne(w);
    const worker = w.workers.started[0]!;
    w.server.failRenewals(job.id);
    await w.advance(8_000);
    expect(worker.kinds()).toEqual(['JobRequest', 'JobCancel']);
    expect(worker.sent[1]!.body).toMatchObject({
      kind: 'CancelRequest',
      reason: expect.stringMatching(/lease was lost/),
    });
    worker.exit({ code: 103, signal: null });
    await settle();
    expect(w.server.get(job.id)!.completion).toMatchObject({ result: 'Abandoned' });
  });

  it('gives the job up at the first renewal refused as lost (taken over), without retrying', async () => {
    const w = world({ leaseMs: 60_000 });
    let lost = false;
    const renewals: string[] = [];
    const source: JobSource = {
      take: (s) => w.server.take(s),
      renew: (j, s) => {
        renewals.push(lost ? 'refused' : 'renewed');
        return lost ? Promise.reject(new LeaseLostError(j.id, 'it was taken again')) : w.server.renew(j, s);
      },
      complete: (j, c) => w.server.complete(j, c),
    };
    const dispatcher = new JobDispatcher({
      source,
      workers: w.workers,
      clock: w.clock,
      lease: { renewIntervalMs: 3_000, retryStartMs: 500 },
    });
    w.server.add({ id: 'job-1', job: 'jobs.mjs#hello' });
    void dispatcher.dispatch((await w.server.take())!);
    await settle();
    const worker = w.workers.started[0]!;
    lost = true;
    // The lease has 57 s left, on which a plain refusal would be retried; a lost one is not.
    await w.advance(3_000);
    expect(renewals).toEqual(['renewed', 'refused']);
    expect(worker.kinds()).toEqual(['JobRequest', 'JobCancel']);
    expect(worker.sent[1]!.body).toMatchObject({ reason: expect.stringMatching(/it was taken again/) });
    await w.advance(10_000);
    expect(renewals).toEqual(['renewed', 'refused']);
  });

  it('retries a failed renewal with back-off and keeps the job when a retry succeeds', async () => {
    const w = world({ leaseMs: 10_000 });
    const job = await startOne(w);
    w.server.failRenewals(job.id, 2);
    await w.advance(3_000 + 500 + 1_000 + 100);
    expect(w.renewals.length).toBe(4); // first, failed at 3 s, failed at 3.5 s, succeeded at 4.5 s
    expect(w.dispatcher.states[0]).toEqual({ leased: { withWorker: 'running' } });
  });

  it('kills a worker that started after the job was cancelled, without sending the job', async () => {
    const w = world();
    let open!: () => void;
    w.workers.gate = new Promise((resolve) => {
      open = resolve;
    });
    const job = await startOne(w);
    expect(w.dispatcher.states[0]).toEqual({ leased: 'startingWorker' });
    w.dispatcher.cancel('job-1');
    open();
    await settle();
    const worker = w.workers.started[0]!;
    expect(worker.kinds()).toEqual([]);
    expect(worker.killed).toBe(1);
    expect(w.server.get(job.id)!.completion).toMatchObject({ result: 'Canceled' });
  });

  it('a job cancelled while the previous one is still being released completes as Canceled at once', async () => {
    const w = world();
    w.workers.prepare = (worker) => {
      if (worker.id === 'worker-1') worker.dispose = () => new Promise<void>(() => {});
    };
    await startOne(w, 'job-1');
    w.workers.started[0]!.exit({ code: 100, signal: null });
    await settle();
    const second = await startOne(w, 'job-2');
    expect(w.dispatcher.states[0]).toBe('awaitingPrevious');
    w.dispatcher.cancel('job-2');
    await settle();
    expect(w.server.get(second.id)!.completion).toMatchObject({ result: 'Canceled' });
    expect(w.renewals).toEqual(['job-1']);
    expect(w.workers.started).toHaveLength(1);
  });

  it('a lease lost while the worker starts abandons the job: the worker is killed unsent', async () => {
    const w = world({ leaseMs: 2_000 });
    let open!: () => void;
    w.workers.gate = new Promise((resolve) => {
      open = resolve;
    });
    const job = await startOne(w);
    expect(w.dispatcher.states[0]).toEqual({ leased: 'startingWorker' });
    w.server.failRenewals(job.id);
    await w.advance(6_000);
    open();
    await settle();
    const worker = w.workers.started[0]!;
    expect(worker.kinds()).toEqual([]);
    expect(worker.killed).toBe(1);
    expect(w.server.get(job.id)!.completion).toMatchObject({ result: 'Abandoned' });
  });

  it('a worker that exits while its job message is on its way: its exit decides, output attached (step 4)', async () => {
    const w = world();
    holdJobMessage(w.workers);
    const job = await startOne(w);
    expect(w.dispatcher.states[0]).toEqual({ leased: { withWorker: 'sendingJob' } });
    w.workers.started[0]!.exit({ code: 1, signal: null });
    await settle();
    expect(w.server.get(job.id)!.completion).toEqual({
      result: 'Failed',
      reason: 'the worker exited with code 1, outside the job result codes',
      exit: { code: 1, signal: null },
      output: 'line one\nline two',
    });
    expect(w.order).toEqual(['reported job-1 Failed', 'completed job-1']);
    expect(w.errors.map((error) => error.constructor.name)).toEqual(['JobWorkerCrashedError']);
  });

  it('a lease lost while the job message is on its way: cancelled right after it is sent', async () => {
    const w = world({ leaseMs: 2_000, channelTimeoutMs: 60_000 });
    const sent = holdJobMessage(w.workers);
    const job = await startOne(w);
    w.server.failRenewals(job.id);
    await w.advance(6_000);
    sent.release();
    await settle();
    const worker = w.workers.started[0]!;
    expect(worker.kinds()).toEqual(['JobRequest', 'JobCancel']);
    worker.exit({ code: 103, signal: null });
    await settle();
    expect(w.server.get(job.id)!.completion).toMatchObject({ result: 'Abandoned' });
  });

  it('a worker killed unsent that does not go away is given up on after the kill timeout', async () => {
    const w = world();
    let open!: () => void;
    w.workers.gate = new Promise((resolve) => {
      open = resolve;
    });
    w.workers.prepare = (worker) => {
      worker.dies = false;
    };
    const job = await startOne(w);
    w.dispatcher.cancel('job-1');
    open();
    await settle();
    expect(w.workers.started[0]!.killed).toBe(1);
    expect(w.server.get(job.id)!.completion).toBeUndefined();
    await w.advance(2_100);
    expect(w.server.get(job.id)!.completion).toMatchObject({ result: 'Canceled' });
  });

  it('a cancel that arrives while the job message is on its way is sent after it', async () => {
    const w = world();
    const sent = holdJobMessage(w.workers);
    await startOne(w);
    w.dispatcher.cancel('job-1');
    sent.release();
    await settle();
    expect(w.workers.started[0]!.kinds()).toEqual(['JobRequest', 'JobCancel']);
    expect(w.order).toEqual([]); // never announced started: it was cancelled before it ran
  });

  it('shutdown cancels running jobs as a runtime shutdown and waits for them', async () => {
    const w = world();
    const job = await startOne(w);
    const worker = w.workers.started[0]!;
    const stopped = w.dispatcher.shutdown();
    await settle();
    expect(worker.sent[1]!.body).toMatchObject({ kind: 'RuntimeShutdown' });
    worker.exit({ code: 103, signal: null });
    await stopped;
    expect(w.server.get(job.id)!.completion).toMatchObject({ result: 'Canceled' });
    expect(worker.disposed).toBe(1);
  });
});

describe('job dispatcher: exactly one result, whatever races', () => {
  it('exit and cancel in the same turn: one result, in either order', async () => {
    for (const exitFirst of [true, false]) {
      const w = world();
      const job = await startOne(w);
      const worker = w.workers.started[0]!;
      if (exitFirst) {
        worker.exit({ code: 100, signal: null });
        w.dispatcher.cancel('job-1');
      } else {
        w.dispatcher.cancel('job-1');
        worker.exit({ code: 100, signal: null });
      }
      await w.advance(10_000);
      expect(w.completed).toHaveLength(1);
      expect(w.server.get(job.id)!.extraCompletions).toEqual([]);
      // The exit is seen after the cancel in both orders (it travels through a promise), so the
      // cancel decides; a worker that had already exited is simply not killed.
      expect(w.server.get(job.id)!.completion!.result).toBe('Canceled');
    }
  });

  it('any interleaving of exit, cancel, lease loss, metadata and time ends every job exactly once', async () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant('exit' as const), code: fc.constantFrom(100, 102, 103, 1) }),
      fc.record({ kind: fc.constant('cancel' as const) }),
      fc.record({ kind: fc.constant('loseLease' as const) }),
      fc.record({ kind: fc.constant('metadata' as const) }),
      fc.record({ kind: fc.constant('time' as const), ms: fc.integer({ min: 0, max: 6_000 }) }),
      fc.record({ kind: fc.constant('settle' as const) }),
    );
    const worker = fc.record({
      job: fc.constantFrom<SendMode>('ok', 'hang', 'fail'),
      cancel: fc.constantFrom<SendMode>('ok', 'hang', 'fail'),
      dies: fc.boolean(),
      startFails: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 12 }), worker, async (steps, setup) => {
        const w = world({ leaseMs: 4_000 });
        if (setup.startFails) w.workers.failure = new Error('no node');
        w.workers.prepare = (x) => {
          x.mode = { JobRequest: setup.job, JobCancel: setup.cancel };
          x.dies = setup.dies;
        };
        const job = await startOne(w);
        for (const s of steps) {
          const x = w.workers.started[0];
          if (s.kind === 'exit') x?.exit({ code: s.code, signal: null });
          else if (s.kind === 'cancel') w.dispatcher.cancel(job.id);
          else if (s.kind === 'loseLease') w.server.failRenewals(job.id);
          else if (s.kind === 'metadata') w.dispatcher.updateMetadata(job.id, { n: 1 });
          else if (s.kind === 'time') await w.advance(s.ms, 500);
          else await settle();
        }
        // Whatever happened, the job ends: let the worker exit if it would, and time pass.
        w.workers.started[0]?.exit({ code: 100, signal: null });
        await w.advance(30_000, 1_000);
        expect(w.completed).toHaveLength(1);
        expect(w.dispatcher.states[0]).toBe('idle');
        const record = w.server.get(job.id)!;
        expect(record.extraCompletions).toEqual([]);
        // A result was reported exactly when the dispatcher says it was.
        expect(record.completion).toEqual(w.completed[0]!.completion);
        // Every worker started was released.
        for (const x of w.workers.started) expect(x.disposed).toBe(1);
        // Renewal stopped with the job.
        const renewals = w.renewals.length;
        await w.advance(20_000, 2_000);
        expect(w.renewals.length).toBe(renewals);
      }),
      { numRuns: 150 },
    );
  });
});

describe('memory job server', () => {
  it('leases jobs in order, waits for new ones, and ends takers when closed', async () => {
    const clock = new VirtualClock();
    const server = new MemoryJobServer({ clock, leaseMs: 100 });
    server.add({ id: 'a', job: 'x' });
    expect((await server.take())!.id).toBe('a');
    const waiting = server.take();
    server.add({ id: 'b', job: 'x' });
    expect((await waiting)!.id).toBe('b');
    const last = server.take();
    server.close();
    expect(await last).toBeUndefined();
    expect(() => server.add({ job: 'x' })).toThrow(/closed/);
  });

  it('refuses renewal under another lease token and when told to fail; renews a run-out lease nobody took', async () => {
    const clock = new VirtualClock();
    const server = new MemoryJobServer({ clock, leaseMs: 100 });
    server.add({ id: 'a', job: 'x' });
    const job = (await server.take())!;
    await expect(server.renew(job)).resolves.toEqual({ expiresAt: 100 });
    await expect(server.renew({ ...job, lease: 'other' })).rejects.toThrow(
      /lease of job a is lost: it was taken again \(token other, now 1\)/,
    );
    server.failRenewals('a', 1);
    await expect(server.renew(job)).rejects.toThrow(/refused/);
    await expect(server.renew(job)).resolves.toEqual({ expiresAt: 100 });
    clock.advance(101);
    // Run out, but no take came in between: the token is still the newest, as in PostgreSQL.
    await expect(server.renew(job)).resolves.toEqual({ expiresAt: 201 });
  });

  it('keeps the first result and refuses a second', async () => {
    const server = new MemoryJobServer();
    server.add({ id: 'a', job: 'x' });
    const job = (await server.take())!;
    await server.complete(job, { result: 'Succeeded' });
    await expect(server.complete(job, { result: 'Failed' })).rejects.toThrow(/already has a result/);
    expect(server.get('a')!.completion).toEqual({ result: 'Succeeded' });
    expect(server.get('a')!.extraCompletions).toHaveLength(1);
  });

  it('a taker that gives up is removed from the queue', async () => {
    const server = new MemoryJobServer();
    const controller = new AbortController();
    const taking = server.take(controller.signal);
    controller.abort(new Error('stop'));
    await expect(taking).rejects.toThrow('stop');
    server.add({ id: 'a', job: 'x' });
    expect((await server.take())!.id).toBe('a');
  });
});
