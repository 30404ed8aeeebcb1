// What happens to agents sharing a PostgreSQL queue must not lose a job nor record one twice:
// agents SIGKILLed and restarted at random, a zombie (an agent stopped past its lease, then
// continued), and the database server itself stopped mid-run and started again. Real agent
// processes (the example's agent-process.js), a real private server; each job's one result is
// checked in the table against the result its message asks for.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate, PostgresJobSource } from '@troupe/postgres';
import { SeededRandom } from '@troupe/testing';
import { type PrivatePostgres, startPrivatePostgres } from '@troupe/testing/internal';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { jobsModule } from '../dist/scenario.js';
import {
  isAlive,
  kill,
  startAgent,
  startServer,
  stop,
  stopAll,
  stopServer,
  type TestAgent,
  until,
} from './support/agents.js';

let server: PrivatePostgres | undefined;
let socketDir = '';
const cleanup: Array<() => Promise<void>> = [];

beforeAll(async () => {
  server = await startPrivatePostgres({ startTimeoutMs: 60_000 });
  socketDir = await mkdtemp(join(tmpdir(), 'troupe-faults-'));
}, 90_000);
afterEach(async () => {
  await stopAll();
  for (const step of cleanup.splice(0).reverse()) await step();
}, 60_000);
afterAll(async () => {
  await server?.stop();
  await rm(socketDir, { recursive: true, force: true });
}, 60_000);

/** The result job `n` asks for: the reference each recorded result is compared with. */
const expected = (n: number) => (n % 3 === 0 ? 'SucceededWithIssues' : 'Succeeded');

interface Row {
  id: string;
  state: string;
  result: string | null;
  agent: string | null;
  attempts: number;
  fence: string;
}

/** A queue in its own schema, an operator's source on it, and a client to read the table. */
async function queue(schema: string) {
  const url = server!.url;
  await migrate(url, { schema });
  const source = new PostgresJobSource({ database: url, schema, agent: 'operator' });
  const client = new pg.Client(url);
  // The outage test cuts this connection too; it reads through another one afterwards.
  client.on('error', () => {});
  await client.connect();
  cleanup.push(async () => {
    await source.close();
    await client.end();
  });
  const rows = async () =>
    (
      await client.query<Row>(
        `select id, state, result, agent, attempts, fence::text as fence from "${schema}".jobs order by seq`,
      )
    ).rows;
  const completed = async () =>
    (
      await client.query<{ n: number }>(
        `select count(*)::int as n from "${schema}".jobs where state = 'completed'`,
      )
    ).rows[0]!.n;
  /** Connections listening for wake-ups (one per agent whose source has started taking). */
  const listeners = async () =>
    (
      await client.query<{ n: number }>('select count(*)::int as n from pg_stat_activity where query = $1', [
        `listen "${schema}.control"`,
      ])
    ).rows[0]!.n;
  return { url, schema, source, rows, completed, listeners };
}

async function addQuick(
  source: PostgresJobSource,
  count: number,
  ms: (n: number) => number,
  maxAttempts = 20,
) {
  for (let n = 0; n < count; n++) {
    await source.add({
      id: `job-${n}`,
      job: `${jobsModule}#quick`,
      message: { ms: ms(n), result: expected(n) },
      maxAttempts,
    });
  }
}

function expectEveryResult(rows: Row[], count: number): void {
  const quick = rows.filter((row) => row.id.startsWith('job-'));
  expect(quick).toHaveLength(count);
  const wrong = quick.filter(
    (row) => row.state !== 'completed' || row.result !== expected(Number(row.id.slice(4))),
  );
  expect(wrong).toEqual([]);
}

describe('agents sharing a PostgreSQL queue, under faults', () => {
  it("a job's worker does not get the queue's credentials (PGPASSWORD, TROUPE_DATABASE_URL)", async () => {
    const q = await queue('credentials');
    const fixture = new URL('./fixtures/credentials.mjs', import.meta.url).href;
    await q.source.add({ id: 'credentials', job: `${fixture}#credentials`, message: null, maxAttempts: 1 });
    // The agent has both (trust authentication ignores the password); its job must see neither.
    const saved = process.env.PGPASSWORD;
    process.env.PGPASSWORD = 'not-for-jobs';
    try {
      startAgent('agent', { url: q.url, schema: q.schema, socketDir });
    } finally {
      if (saved === undefined) delete process.env.PGPASSWORD;
      else process.env.PGPASSWORD = saved;
    }
    await until('the job is done', async () => (await q.completed()) === 1);
    expect((await q.rows()).map((row) => [row.id, row.result])).toEqual([['credentials', 'Succeeded']]);
  });

  it('3 agents x 2 slots, 500 jobs, agents SIGKILLed and restarted at random: one result each, none lost', async () => {
    const q = await queue('storm');
    const random = new SeededRandom(15);
    await addQuick(q.source, 500, (n) => 5 + (n % 4) * 5);
    // Two jobs that outlast the run, taken last (lower priority): their leases are checked at the end.
    for (const id of ['long-1', 'long-2']) {
      await q.source.add({
        id,
        job: `${jobsModule}#quick`,
        message: { ms: 600_000, result: 'Succeeded' },
        priority: -1,
        maxAttempts: 50,
      });
    }
    const args = [
      '--slots',
      '2',
      '--workers',
      'in-process',
      '--lease-ms',
      '1000',
      '--poll-ms',
      '300',
      '--quiet',
    ];
    const incarnations = [0, 0, 0];
    const start = (i: number) =>
      startAgent(`a${i}.${incarnations[i]}`, { url: q.url, schema: q.schema, socketDir, args });
    const agents: TestAgent[] = [0, 1, 2].map(start);
    // A kill each time another 50 jobs are done (from 50 to 400), of an agent the seed picks, after a
    // random pause: during the run however fast the machine is.
    let kills = 0;
    for (let done = await q.completed(); done < 500; done = await q.completed()) {
      await new Promise((resolve) => setTimeout(resolve, 20 + random.int(100)));
      if (kills >= 8 || done < 50 * (kills + 1)) continue;
      const i = random.int(3);
      await kill(agents[i]!);
      kills++;
      incarnations[i]!++;
      agents[i] = start(i);
    }
    const rows = await q.rows();
    expectEveryResult(rows, 500);
    // The kills did hit running jobs: some were taken again, by a raised token.
    expect(rows.filter((row) => row.id.startsWith('job-') && row.attempts > 1).length).toBeGreaterThan(0);
    expect(kills).toBe(8);
    // Every lease held belongs to a live agent, once the dead ones' leases have run out and been taken.
    const live = () => new Set(agents.filter((a) => a.child.exitCode === null).map((a) => a.name));
    await until('the long jobs are held by live agents', async () => {
      const leased = (await q.rows()).filter((row) => row.state === 'leased');
      return leased.length === 2 && leased.every((row) => live().has(row.agent!));
    });
  }, 90_000);

  it('a zombie: stopped past its lease, its job taken by another, continued: refused by the token, worker stopped', async () => {
    const q = await queue('zombie');
    const args = ['--slots', '1', '--lease-ms', '800', '--poll-ms', '200'];
    const zombie = startAgent('zombie', { url: q.url, schema: q.schema, socketDir, args });
    await q.source.add({
      id: 'contested',
      job: `${jobsModule}#quick`,
      message: { ms: 4_000, result: 'SucceededWithIssues' },
    });
    await until('the zombie runs the job', () =>
      zombie.events.some((line) => /started contested in worker pid/.test(line)),
    );
    const zombieWorker = Number(
      /worker pid (\d+)/.exec(zombie.events.find((line) => line.includes('started contested'))!)![1],
    );
    // The other agent is up and listening before the zombie stalls, so the stall lasts about one lease.
    const other = startAgent('other', { url: q.url, schema: q.schema, socketDir, args });
    await until('both agents listen', async () => (await q.listeners()) === 2);
    zombie.child.kill('SIGSTOP');
    await until('the other agent holds the job', async () => (await q.rows())[0]!.agent === 'other');
    zombie.child.kill('SIGCONT');
    // Its next renewal is refused: it abandons the job and stops its worker; its result is not written.
    await until('the zombie reports', () => zombie.reports.length === 1);
    expect(zombie.reports[0]).toMatchObject({
      id: 'contested',
      result: 'Abandoned',
      reason: expect.stringMatching(/taken again \(token 1, now 2\)/),
    });
    expect(isAlive(zombieWorker)).toBe(false);
    expect(zombie.events).toContainEqual(
      expect.stringMatching(/could not report the result of job contested: .*taken again/),
    );
    await until('the other agent reports', () => other.reports.length === 1, 20_000);
    expect(other.reports[0]).toMatchObject({ id: 'contested', result: 'SucceededWithIssues' });
    expect(await q.rows()).toEqual([
      {
        id: 'contested',
        state: 'completed',
        result: 'SucceededWithIssues',
        agent: 'other',
        attempts: 2,
        fence: '2',
      },
    ]);
  }, 60_000);

  it('the database stopped for a few seconds mid-run: agents log the outage, recover, and no job is lost or reported twice', async () => {
    const q = await queue('outage');
    await addQuick(q.source, 80, () => 40);
    // Leases outlast the outage: running jobs go on through it.
    const args = [
      '--slots',
      '2',
      '--workers',
      'in-process',
      '--lease-ms',
      '5000',
      '--poll-ms',
      '500',
      '--quiet',
    ];
    const agents = [0, 1].map((i) => startAgent(`o${i}`, { url: q.url, schema: q.schema, socketDir, args }));
    await until('a quarter of the jobs are done', async () => (await q.completed()) >= 20);
    await stopServer(server!);
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    await startServer(server!);
    const client = new pg.Client(q.url);
    await client.connect();
    cleanup.push(() => client.end());
    await until('every job is done', async () => {
      const { rows } = await client.query<{ n: number }>(
        `select count(*)::int as n from outage.jobs where state = 'completed'`,
      );
      return rows[0]!.n === 80;
    });
    const { rows } = await client.query<Row>(
      'select id, state, result, agent, attempts, fence::text as fence from outage.jobs',
    );
    expectEveryResult(rows, 80);
    // Both agents came through the outage running, and logged it.
    for (const agent of agents) {
      expect(agent.stderr).toMatch(/database: /);
      expect(agent.child.exitCode).toBe(null);
    }
    // An agent reports a job only once the database has answered its complete, so the table can
    // hold the last result while its report is still on its way here. Stopped, each agent sends
    // its last reports before it disconnects: after that, nothing more can arrive.
    await Promise.all(agents.map(stop));
    // Each job's result was reported once, by the agent the table names (an agent that gave a job
    // up without a result, `None`, reported nothing).
    const reported = agents.flatMap((agent) =>
      agent.reports.filter((r) => r.result !== 'None').map((r) => [r.id, r.agent, r.result]),
    );
    expect(reported.sort()).toEqual(rows.map((row) => [row.id, row.agent, row.result]).sort());
  }, 90_000);
});
