// Cancels and metadata updates through the database: asked from another connection (an operator,
// the CLI), they reach the agent that holds the job's lease (NOTIFY, or its slow poll when the
// notification never came), and its dispatcher acts on them; each job's one result is in the table.
import { migrate, PostgresJobSource } from '@troupe/postgres';
import pg from 'pg';
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

/** A source that only adds and asks (as `troupe jobs` does): it never takes. */
function operator(url: string): PostgresJobSource {
  const source = new PostgresJobSource({ database: url, agent: 'operator' });
  cleanup.push(() => source.close());
  return source;
}

describe('cancel and metadata through the database', () => {
  it('a running job cancelled from another connection is cancelled by its holder, on the NOTIFY', async () => {
    const url = await postgres.database();
    await migrate(url);
    // A poll of a minute: only the notification can deliver the cancel within the test's time.
    const a = agent(url, { agent: 'a', pollMs: 60_000 });
    const ops = operator(url);
    await ops.add({ id: 'long', job: `${jobs}#untilCancelled` });
    await a.until(() => a.logs.includes('long: waiting'));
    expect(await ops.cancel('long', 'stopped by the operator')).toBe('requested');
    const [event] = await a.completions(1);
    expect(event!.completion).toMatchObject({ result: 'Canceled' });
    expect(a.logs).toEqual(['long: waiting', 'long: cancelled: stopped by the operator']);
    expect(await ops.get('long')).toMatchObject({
      state: 'completed',
      result: 'Canceled',
      agent: 'a',
      cancelReason: 'stopped by the operator',
    });
    // Asked again once it has ended: nothing changes.
    expect(await ops.cancel('long')).toBe('finished');
    expect(a.errors).toEqual([]);
  });

  it('a cancel whose notification was never sent reaches the holder on its slow poll', async () => {
    const url = await postgres.database();
    await migrate(url);
    const a = agent(url, { agent: 'a', pollMs: 200 });
    await a.source.add({ id: 'long', job: `${jobs}#untilCancelled` });
    await a.until(() => a.logs.includes('long: waiting'));
    // Written as the cancel writes it, without its NOTIFY (as if the listener had been down).
    const client = new pg.Client(url);
    await client.connect();
    cleanup.push(() => client.end());
    await client.query(
      "update troupe_jobs.jobs set cancel_requested_at = now(), cancel_reason = 'quietly' where id = 'long'",
    );
    await a.completions(1);
    expect(a.logs).toEqual(['long: waiting', 'long: cancelled: quietly']);
    expect(await a.source.get('long')).toMatchObject({ state: 'completed', result: 'Canceled' });
  });

  it('a queued job cancelled is completed as Canceled and never runs', async () => {
    const url = await postgres.database();
    await migrate(url);
    const ops = operator(url);
    await ops.add({ id: 'never', job: `${jobs}#resultOf`, message: { result: 'Succeeded' } });
    expect(await ops.cancel('never', 'not wanted')).toBe('canceled');
    await ops.add({ id: 'after', job: `${jobs}#resultOf`, message: { result: 'Succeeded' } });
    const a = agent(url, { agent: 'a' });
    await a.completions(1);
    expect(a.completed.map((event) => event.job.id)).toEqual(['after']);
    expect(await ops.get('never')).toMatchObject({
      state: 'completed',
      result: 'Canceled',
      attempts: 0,
      completion: { result: 'Canceled', reason: 'not wanted' },
    });
    await expect(ops.cancel('nobody')).rejects.toMatchObject({ code: 'TROUPE_UNKNOWN_JOB' });
  });

  it('a metadata update reaches the running worker through its holder', async () => {
    const url = await postgres.database();
    await migrate(url);
    const a = agent(url, { agent: 'a', pollMs: 60_000 });
    const ops = operator(url);
    await ops.add({ id: 'deploy', job: `${jobs}#deploy`, metadata: { target: 'staging', by: 'ci' } });
    await a.until(() => a.logs.includes('deploy: waiting'));
    expect(await ops.updateMetadata('deploy', { target: 'production' })).toBe('sent');
    await a.completions(1);
    expect(a.logs).toEqual([
      'deploy: target staging',
      'deploy: waiting',
      'deploy: target changed to production',
    ]);
    expect(await ops.get('deploy')).toMatchObject({
      result: 'SucceededWithIssues',
      metadata: { target: 'production', by: 'ci' },
    });
    expect(await ops.updateMetadata('deploy', { target: 'qa' })).toBe('finished');
  });

  it('a metadata update of a queued job is what it starts with', async () => {
    const url = await postgres.database();
    await migrate(url);
    const ops = operator(url);
    await ops.add({ id: 'deploy', job: `${jobs}#deploy`, metadata: { target: 'staging' } });
    expect(await ops.updateMetadata('deploy', { target: 'production' })).toBe('queued');
    const a = agent(url, { agent: 'a' });
    const [event] = await a.completions(1);
    expect(event!.completion).toMatchObject({ result: 'Succeeded' });
    expect(a.logs).toEqual(['deploy: target production']);
  });

  it('a cancelled job whose holder died is completed as Canceled by the next take, not run again', async () => {
    const url = await postgres.database();
    await migrate(url);
    const dead = new PostgresJobSource({ database: url, agent: 'dead', leaseMs: 200 });
    cleanup.push(() => dead.close());
    const ops = operator(url);
    await ops.add({ id: 'orphan', job: `${jobs}#untilCancelled` });
    await ops.add({ id: 'next', job: `${jobs}#resultOf`, message: { result: 'Succeeded' } });
    // Taken, then never renewed nor watched: its agent is gone.
    expect(await dead.take()).toMatchObject({ id: 'orphan', lease: '1' });
    expect(await ops.cancel('orphan', 'stop it')).toBe('requested');
    const b = agent(url, { agent: 'b' });
    await b.completions(1);
    // Once its lease has run out on the database's clock, b's waiting take finds it.
    while ((await ops.get('orphan'))?.state !== 'completed') await new Promise((r) => setTimeout(r, 50));
    expect(b.completed.map((event) => event.job.id)).toEqual(['next']);
    const orphan = await ops.get('orphan');
    expect(orphan).toMatchObject({ state: 'completed', result: 'Canceled', agent: 'b', attempts: 2 });
    expect(orphan!.completion!.reason).toMatch(/^stop it \(its lease ran out/);
  });
});
