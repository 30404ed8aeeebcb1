// Fencing in the embedded job server, and what a dispatcher does when the fence refuses it: every
// take raises the job's token, a run-out lease is taken again, the old holder (a zombie) can
// neither renew nor report, and it abandons its job. On a virtual clock with scripted workers.
import { InvalidOptionError, LeaseLostError, MemoryJobServer } from '@troupe/core';
import { VirtualClock } from '@troupe/testing';
import { describe, expect, it } from 'vitest';
import { settle, startOne, world } from './support/jobs.js';

/** A promise's state, without waiting for it. */
async function state(promise: Promise<unknown>): Promise<'pending' | 'settled'> {
  let settled = false;
  promise.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  await settle();
  return settled ? 'settled' : 'pending';
}

describe('memory job server: fenced leases', () => {
  it('a waiting take gets a job whose lease ran out, with the next token; the old holder is refused', async () => {
    const clock = new VirtualClock();
    const server = new MemoryJobServer({ clock, leaseMs: 100 });
    server.add({ id: 'a', job: 'x', message: { n: 1 } });
    const first = (await server.take())!;
    expect(first).toMatchObject({ id: 'a', lease: '1' });
    const waiting = server.take();
    clock.advance(99);
    expect(await state(waiting)).toBe('pending');
    clock.advance(1);
    const second = (await waiting)!;
    expect(second).toEqual({ id: 'a', job: 'x', message: { n: 1 }, lease: '2' });
    expect(server.get('a')).toMatchObject({ status: 'leased', fence: 2, attempts: 2, lease: '2' });
    await expect(server.renew(first)).rejects.toThrow(LeaseLostError);
    await expect(server.complete(first, { result: 'Succeeded', reason: 'zombie' })).rejects.toThrow(
      /lease of job a is lost: it was taken again \(token 1, now 2\)/,
    );
    expect(server.get('a')!.completion).toBeUndefined();
    await server.complete(second, { result: 'Failed', reason: 'holder' });
    expect(server.get('a')).toMatchObject({
      status: 'completed',
      completion: { result: 'Failed', reason: 'holder' },
      completedUnder: '2',
      extraCompletions: [],
    });
    await expect(server.renew(second)).rejects.toThrow(/it is completed, not leased/);
  });

  it('a renewal keeps the job: a waiting take is woken only once the renewed lease runs out', async () => {
    const clock = new VirtualClock();
    const server = new MemoryJobServer({ clock, leaseMs: 100 });
    server.add({ id: 'a', job: 'x' });
    const holder = (await server.take())!;
    const waiting = server.take();
    clock.advance(60);
    await expect(server.renew(holder)).resolves.toEqual({ expiresAt: 160 });
    clock.advance(50);
    expect(await state(waiting)).toBe('pending');
    clock.advance(50);
    expect(await waiting).toMatchObject({ id: 'a', lease: '2' });
  });

  it('takes a run-out lease before the queue, and the queue in the order jobs were added', async () => {
    const clock = new VirtualClock();
    const server = new MemoryJobServer({ clock, leaseMs: 100 });
    server.add({ id: 'a', job: 'x' });
    server.add({ id: 'b', job: 'x' });
    server.add({ id: 'c', job: 'x' });
    expect((await server.take())!.id).toBe('a');
    clock.advance(100);
    const taken = [(await server.take())!, (await server.take())!, (await server.take())!];
    expect(taken.map((job) => `${job.id}:${job.lease}`)).toEqual(['a:2', 'b:1', 'c:1']);
  });

  it('of two run-out leases, the job added first is taken first, whenever each was last taken', async () => {
    const clock = new VirtualClock();
    const server = new MemoryJobServer({ clock, leaseMs: 100 });
    server.add({ id: 'a', job: 'x' });
    server.add({ id: 'b', job: 'x' });
    expect((await server.take())!.id).toBe('a');
    clock.advance(50);
    expect((await server.take())!.id).toBe('b');
    clock.advance(50);
    expect(await server.take()).toMatchObject({ id: 'a', lease: '2' });
    clock.advance(100);
    const taken = [(await server.take())!, (await server.take())!];
    expect(taken.map((job) => `${job.id}:${job.lease}`)).toEqual(['a:3', 'b:2']);
  });

  it('a job taken maxAttempts times is dead at its next take: no result, its holder refused', async () => {
    const clock = new VirtualClock();
    const server = new MemoryJobServer({ clock, leaseMs: 100, maxAttempts: 2 });
    server.add({ id: 'crashes', job: 'x' });
    server.add({ id: 'once', job: 'x', maxAttempts: 1 });
    server.add({ id: 'fine', job: 'x' });
    const holders = [(await server.take())!];
    clock.advance(100);
    holders.push((await server.take())!);
    expect(holders.map((job) => `${job.id}:${job.lease}`)).toEqual(['crashes:1', 'crashes:2']);
    const once = (await server.take())!;
    expect(once).toMatchObject({ id: 'once', lease: '1' });
    clock.advance(100);
    // Both run out: 'crashes' has had its two takes, 'once' its one; the next take skips both.
    const next = (await server.take())!;
    expect(next).toMatchObject({ id: 'fine', lease: '1' });
    expect(server.list().map((job) => [job.id, job.status, job.fence, job.attempts])).toEqual([
      ['crashes', 'dead', 3, 2],
      ['once', 'dead', 2, 1],
      ['fine', 'leased', 1, 1],
    ]);
    await expect(server.complete(holders[1]!, { result: 'Succeeded' })).rejects.toThrow(LeaseLostError);
    expect(server.get('crashes')!.completion).toBeUndefined();
  });

  it('after close, a lease that runs out stays its holder’s: takes end, the holder still reports', async () => {
    const clock = new VirtualClock();
    const server = new MemoryJobServer({ clock, leaseMs: 100 });
    server.add({ id: 'a', job: 'x' });
    const holder = (await server.take())!;
    server.close();
    clock.advance(500);
    expect(await server.take()).toBeUndefined();
    await server.complete(holder, { result: 'Succeeded' });
    expect(server.get('a')).toMatchObject({ status: 'completed', completedUnder: '1' });
  });

  it('arms its expiry timer only while a take waits on a held lease', async () => {
    const clock = new VirtualClock();
    const server = new MemoryJobServer({ clock, leaseMs: 100 });
    server.add({ id: 'a', job: 'x' });
    const holder = (await server.take())!;
    expect(clock.pending).toBe(0);
    const controller = new AbortController();
    const waiting = server.take(controller.signal);
    expect(clock.pending).toBe(1);
    controller.abort(new Error('stop'));
    await expect(waiting).rejects.toThrow('stop');
    expect(clock.pending).toBe(0);
    const again = server.take();
    await server.complete(holder, { result: 'Succeeded' });
    expect(clock.pending).toBe(0);
    server.close();
    expect(await again).toBeUndefined();
  });

  it('refuses a maxAttempts that is not a positive integer, naming it', () => {
    expect(() => new MemoryJobServer({ maxAttempts: 0 })).toThrow(InvalidOptionError);
    expect(() => new MemoryJobServer({ maxAttempts: 0 })).toThrow(/maxAttempts/);
    const server = new MemoryJobServer();
    expect(() => server.add({ job: 'x', maxAttempts: 1.5 })).toThrow(/maxAttempts/);
  });
});

describe('job dispatcher: a zombie refused by the fence', () => {
  // Renewals every 3 s on a 1 s lease: the agent stalls past its lease between two renewals.
  const zombieWorld = () => world({ leaseMs: 1_000, lease: { renewIntervalMs: 3_000 } });

  it('its renewal is refused: it abandons the job, stops its worker and writes nothing', async () => {
    const w = zombieWorld();
    const job = await startOne(w);
    const worker = w.workers.started[0]!;
    await w.advance(1_500);
    const holder = (await w.server.take())!;
    expect(holder).toMatchObject({ id: job.id, lease: '2' });
    await w.advance(1_500);
    expect(worker.kinds()).toEqual(['JobRequest', 'JobCancel']);
    expect(worker.sent[1]!.body).toMatchObject({ reason: expect.stringMatching(/token 1, now 2/) });
    worker.exit({ code: 103, signal: null });
    await settle();
    expect(w.completed.map((event) => event.completion)).toEqual([
      {
        result: 'Abandoned',
        reason: expect.stringMatching(/lease .* is lost/),
        exit: { code: 103, signal: null },
      },
    ]);
    expect(w.errors.map((error) => error.message)).toEqual([
      expect.stringMatching(/could not report the result of job job-1: .*token 1, now 2/),
    ]);
    expect(w.server.get(job.id)!.completion).toBeUndefined();
    await w.server.complete(holder, { result: 'Succeeded', reason: 'the holder' });
    expect(w.server.get(job.id)).toMatchObject({
      completion: { result: 'Succeeded', reason: 'the holder' },
      completedUnder: '2',
      extraCompletions: [],
    });
  });

  it('its worker finished before it heard: the report is refused and the job ends Abandoned here', async () => {
    const w = zombieWorld();
    const job = await startOne(w);
    const worker = w.workers.started[0]!;
    await w.advance(1_500);
    const holder = (await w.server.take())!;
    worker.exit({ code: 100, signal: null });
    await settle();
    expect(worker.kinds()).toEqual(['JobRequest']);
    expect(w.completed.map((event) => event.completion)).toEqual([
      {
        result: 'Abandoned',
        reason: expect.stringMatching(/lease of job job-1 is lost: it was taken again \(token 1, now 2\)/),
        exit: { code: 100, signal: null },
      },
    ]);
    expect(w.server.get(job.id)).toMatchObject({
      status: 'leased',
      lease: holder.lease,
      completion: undefined,
    });
    // Renewal stopped with the job: no more refusals come.
    const renewals = w.renewals.length;
    await w.advance(10_000, 1_000);
    expect(w.renewals.length).toBe(renewals);
  });

  it('a report refused for another reason keeps the worker’s result: only the fence abandons', async () => {
    const w = zombieWorld();
    const job = await startOne(w);
    // The holder's own token, already used: refused as a second result, not as a lost lease.
    await w.server.complete(job, { result: 'Failed', reason: 'reported elsewhere' });
    w.workers.started[0]!.exit({ code: 100, signal: null });
    await settle();
    expect(w.completed.map((event) => event.completion?.result)).toEqual(['Succeeded']);
    expect(w.errors.map((error) => error.message)).toEqual([
      expect.stringMatching(/could not report the result of job job-1: .*already has a result/),
    ]);
    expect(w.server.get(job.id)!.completion).toEqual({ result: 'Failed', reason: 'reported elsewhere' });
  });
});
