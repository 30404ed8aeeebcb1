// A JobDispatcher whose source is PostgresJobSource, with in-process workers: results land in
// the table once each, and an agent whose lease another agent took (a zombie) is refused by the
// fencing token: it abandons the job, stops its worker, and writes nothing.
import { migrate, PostgresJobSource } from '@troupe/postgres';
import { afterEach, describe, expect, it } from 'vitest';
import { startAgent } from './support/agent.js';
import { usePrivatePostgres } from './support/server.js';

const postgres = usePrivatePostgres();
const jobs = new URL('./fixtures/jobs.mjs', import.meta.url).href;
const cleanup: Array<() => Promise<void>> = [];
const agent = startAgent(cleanup);
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

describe('JobDispatcher over PostgresJobSource', () => {
  it('runs the jobs of the table, and each gets its one result there', async () => {
    const url = await postgres.database();
    await migrate(url);
    const a = agent(url, { agent: 'a' }, { slots: 2 });
    await a.source.add({ id: 'ok', job: `${jobs}#resultOf`, message: { result: 'Succeeded' } });
    await a.source.add({ id: 'issues', job: `${jobs}#resultOf`, message: { result: 'SucceededWithIssues' } });
    await a.source.add({ id: 'no', job: `${jobs}#fails` });
    await a.completions(3);
    const rows = await a.source.list();
    expect(rows.map((row) => [row.id, row.state, row.result, row.attempts])).toEqual([
      ['ok', 'completed', 'Succeeded', 1],
      ['issues', 'completed', 'SucceededWithIssues', 1],
      ['no', 'completed', 'Failed', 1],
    ]);
    expect(rows[2]!.completion).toMatchObject({
      result: 'Failed',
      reason: expect.stringMatching(/the job says no/),
    });
    expect(a.errors).toEqual([]);
  });

  it('a zombie agent is refused by the token: its job is abandoned there, its worker stopped, its result never written', async () => {
    const url = await postgres.database();
    await migrate(url);
    // The zombie renews only every 2.5 s while its lease lasts 1 s: it stalls past its lease.
    const zombie = agent(url, { agent: 'zombie', leaseMs: 1_000 }, { lease: { renewIntervalMs: 2_500 } });
    const other = new PostgresJobSource({ database: url, agent: 'other' });
    cleanup.push(() => other.close());
    await zombie.source.add({ id: 'contested', job: `${jobs}#untilCancelled` });
    await zombie.until(() => zombie.logs.includes('contested: waiting'));
    // The other agent takes the job once the zombie's lease has run out on the database's clock.
    const taken = (await other.take())!;
    expect(taken).toMatchObject({ id: 'contested', lease: '2' });
    const [event] = await zombie.completions(1);
    expect(event!.completion).toMatchObject({
      result: 'Abandoned',
      reason: expect.stringMatching(/lease .* is lost/),
    });
    expect(zombie.logs).toEqual([
      'contested: waiting',
      expect.stringMatching(/contested: cancelled: .*taken again/),
    ]);
    expect(zombie.errors.map((error) => error.message)).toEqual([
      expect.stringMatching(/could not report the result of job contested: .*taken again \(token 1, now 2\)/),
    ]);
    expect(await other.get('contested')).toMatchObject({ state: 'leased', agent: 'other', result: null });
    await other.complete(taken, { result: 'Succeeded', reason: 'done by the other agent' });
    expect(await other.get('contested')).toMatchObject({
      state: 'completed',
      result: 'Succeeded',
      completion: { result: 'Succeeded', reason: 'done by the other agent' },
    });
  });
});
