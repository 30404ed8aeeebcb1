// The `JobSource` contract: what a dispatcher may count on from any source, one describe run
// against each (MemoryJobServer in core's tests, PostgresJobSource in @troupe/postgres's). Values
// are checked, never timings: a lease is made short only so that it runs out.
import {
  type JobCompletion,
  type JobRequest,
  type JobSource,
  LeaseLostError,
  LeaseRenewalError,
} from '@troupe/core';
import { afterEach, describe, expect, it } from 'vitest';

export interface ContractJob {
  id: string;
  job: string;
  message?: unknown;
  metadata?: Record<string, unknown>;
  /** Takes of this job without a result before it is dead instead of leased again. */
  maxAttempts?: number;
}

/** One source under test, with what the contract needs to see and do around it. */
export interface ContractSubject {
  readonly source: JobSource;
  add(job: ContractJob): Promise<void>;
  /** The result the source holds for the job (undefined: none). */
  recorded(id: string): Promise<JobCompletion | undefined>;
  /** Resolves once the lease of the job's holder has run out (on the source's own clock). */
  expire(job: JobRequest): Promise<void>;
  close(): Promise<void>;
}

/** What a source may opt out of; both of troupe's sources keep all of it (the default). */
export interface ContractCapabilities {
  /** A job whose lease ran out is taken again (and its old lease is refused). */
  retakesExpiredLeases: boolean;
  /** A completion that presents a superseded lease is refused and writes nothing. */
  fencesCompletion: boolean;
}

export function describeJobSourceContract(
  name: string,
  open: (options: { leaseMs: number }) => Promise<ContractSubject>,
  can: ContractCapabilities = { retakesExpiredLeases: true, fencesCompletion: true },
): void {
  describe(`JobSource contract: ${name}`, () => {
    const opened: ContractSubject[] = [];
    const subject = async (leaseMs = 60_000) => {
      const made = await open({ leaseMs });
      opened.push(made);
      return made;
    };
    afterEach(async () => {
      for (const made of opened.splice(0)) await made.close();
    });

    it('a take leases one job: its id, code, message and metadata as added, and a lease token', async () => {
      const { source, add } = await subject();
      await add({
        id: 'a',
        job: 'file:///jobs.mjs#build',
        message: { n: 1, list: ['x'] },
        metadata: { k: 'v' },
      });
      const job = await source.take();
      expect(job).toMatchObject({
        id: 'a',
        job: 'file:///jobs.mjs#build',
        message: { n: 1, list: ['x'] },
        metadata: { k: 'v' },
      });
      expect(job!.lease).toEqual(expect.any(String));
      expect(job!.lease.length).toBeGreaterThan(0);
    });

    it('takes jobs oldest first, each once; a take with nothing queued waits for the next add', async () => {
      const { source, add } = await subject();
      await add({ id: 'first', job: 'file:///j.mjs#a' });
      await add({ id: 'second', job: 'file:///j.mjs#a' });
      const taken = [(await source.take())!.id, (await source.take())!.id];
      expect(taken).toEqual(['first', 'second']);
      const waiting = source.take();
      await add({ id: 'third', job: 'file:///j.mjs#a', message: 'late' });
      expect(await waiting).toMatchObject({ id: 'third', message: 'late' });
    });

    it("renew extends the holder's lease; complete records the job's one result", async () => {
      const { source, add, recorded } = await subject();
      await add({ id: 'a', job: 'file:///j.mjs#a' });
      const job = (await source.take())!;
      const lease = await source.renew(job);
      expect(Number.isFinite(lease.expiresAt)).toBe(true);
      expect(await recorded('a')).toBeUndefined();
      await source.complete(job, { result: 'Succeeded' });
      expect(await recorded('a')).toMatchObject({ result: 'Succeeded' });
      // Once completed, the job's lease is over: no renewal, no second result.
      await expect(source.renew(job)).rejects.toBeInstanceOf(LeaseRenewalError);
      await expect(source.complete(job, { result: 'Failed', reason: 'again' })).rejects.toThrow(/job a/);
      expect(await recorded('a')).toEqual({ result: 'Succeeded' });
    });

    it('an aborted waiting take rejects with the reason and takes nothing', async () => {
      const { source, add } = await subject();
      const controller = new AbortController();
      const waiting = source.take(controller.signal);
      controller.abort(new Error('agent stopping'));
      await expect(waiting).rejects.toThrow('agent stopping');
      const already = new AbortController();
      already.abort(new Error('stopped before'));
      await expect(source.take(already.signal)).rejects.toThrow('stopped before');
      await add({ id: 'after', job: 'file:///j.mjs#a' });
      expect((await source.take())!.id).toBe('after');
    });

    it('every job gets exactly its own one result when several takers share the source', async () => {
      const { source, add, recorded } = await subject();
      const ids = Array.from({ length: 12 }, (_, i) => `job-${i}`);
      for (const id of ids) await add({ id, job: 'file:///j.mjs#a', message: { id } });
      // Each taker takes and completes four, one after another: twelve jobs, three takers.
      const taker = async (name: string) => {
        const mine: string[] = [];
        while (mine.length < 4) {
          const job = (await source.take())!;
          mine.push(job.id);
          const { id } = job.message as { id: string };
          await source.complete(job, { result: 'Succeeded', reason: `${name} did ${id}` });
        }
        return mine;
      };
      const done = await Promise.all(['t1', 't2', 't3'].map(taker));
      expect(done.flat().sort()).toEqual([...ids].sort());
      for (const [index, mine] of done.entries()) {
        for (const id of mine)
          expect(await recorded(id)).toEqual({ result: 'Succeeded', reason: `t${index + 1} did ${id}` });
      }
    });

    it.runIf(can.retakesExpiredLeases)(
      'a job whose lease ran out is taken again with a new lease, and the old lease is refused',
      async () => {
        const { source, add } = await subject(300);
        await add({ id: 'a', job: 'file:///j.mjs#a', message: 'payload' });
        const first = (await source.take())!;
        const { expire } = opened.at(-1)!;
        await expire(first);
        const second = (await source.take())!;
        expect(second).toMatchObject({ id: 'a', message: 'payload' });
        // A fencing token: raised by every take of the job (both sources write it in decimal).
        expect(BigInt(second.lease)).toBeGreaterThan(BigInt(first.lease));
        await expect(source.renew(first)).rejects.toBeInstanceOf(LeaseLostError);
        await expect(source.renew(second)).resolves.toEqual({ expiresAt: expect.any(Number) });
      },
    );

    it.runIf(can.retakesExpiredLeases)(
      "a lease that ran out but that nobody took since is still its holder's: it renews and reports",
      async () => {
        const { source, add, recorded, expire } = await subject(300);
        await add({ id: 'a', job: 'file:///j.mjs#a' });
        const holder = (await source.take())!;
        await expire(holder);
        await expect(source.renew(holder)).resolves.toEqual({ expiresAt: expect.any(Number) });
        await source.complete(holder, { result: 'Succeeded', reason: 'late but still the holder' });
        expect(await recorded('a')).toEqual({ result: 'Succeeded', reason: 'late but still the holder' });
      },
    );

    it.runIf(can.retakesExpiredLeases)(
      'a job taken maxAttempts times is dead when it comes up again: never taken, no result, its holder refused',
      async () => {
        const { source, add, recorded, expire } = await subject(300);
        await add({ id: 'keeps-crashing', job: 'file:///j.mjs#a', maxAttempts: 1 });
        const holder = (await source.take())!;
        await expire(holder);
        await add({ id: 'next', job: 'file:///j.mjs#a' });
        expect((await source.take())!.id).toBe('next');
        const waiting = source.take();
        await add({ id: 'last', job: 'file:///j.mjs#a' });
        expect((await waiting)!.id).toBe('last');
        await expect(source.complete(holder, { result: 'Succeeded' })).rejects.toBeInstanceOf(LeaseLostError);
        await expect(source.renew(holder)).rejects.toBeInstanceOf(LeaseLostError);
        expect(await recorded('keeps-crashing')).toBeUndefined();
      },
    );

    it.runIf(can.fencesCompletion)(
      "a superseded holder's completion is refused and writes nothing: the one result is the new holder's",
      async () => {
        const { source, add, recorded, expire } = await subject(300);
        await add({ id: 'a', job: 'file:///j.mjs#a' });
        const zombie = (await source.take())!;
        await expire(zombie);
        const holder = (await source.take())!;
        await expect(
          source.complete(zombie, { result: 'Succeeded', reason: 'zombie' }),
        ).rejects.toBeInstanceOf(LeaseLostError);
        expect(await recorded('a')).toBeUndefined();
        await source.complete(holder, { result: 'Failed', reason: 'holder' });
        await expect(
          source.complete(zombie, { result: 'Succeeded', reason: 'zombie' }),
        ).rejects.toBeInstanceOf(LeaseLostError);
        await expect(source.renew(zombie)).rejects.toBeInstanceOf(LeaseLostError);
        expect(await recorded('a')).toEqual({ result: 'Failed', reason: 'holder' });
      },
    );
  });
}
