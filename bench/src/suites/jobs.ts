import { randomBytes } from 'node:crypto';
import { startPrivatePostgres } from '@troupe/testing/internal';
import pg from 'pg';
import { GraphileQueue } from '../jobs/graphile.js';
import { ledger } from '../jobs/ledger.js';
import { MemoryQueue } from '../jobs/memory.js';
import { PgBossQueue } from '../jobs/pgboss.js';
import type { BenchQueue } from '../jobs/queue.js';
import { TroupeQueue } from '../jobs/troupe.js';
import { median, type Row, row, type SuiteOptions } from '../measure.js';

/**
 * Jobs through a PostgreSQL queue (issue 15): troupe (PostgresJobSource + JobDispatcher with
 * warm in-process workers) against graphile-worker 0.17 and pg-boss 10, on one server, each queue in a
 * schema of its own, dropped after. The server is `TROUPE_DATABASE_URL`'s, or a private one
 * started for the run and stopped after it. Every job is a no-op that records its key; every
 * measurement is checked: each job added ran exactly once, and the database holds each as done.
 * The same troupe agents on core's MemoryJobServer are measured too, without a goal: the share of
 * a job's time that is the queue's, and the share that is the dispatcher's and its worker's.
 */

export interface JobsSizes {
  /** Jobs per throughput round, the same for every system. */
  jobs: number;
  /** Throughput rounds per system, the systems taking turns. */
  rounds: number;
  /** Add-to-start samples per system. */
  samples: number;
}

const AGENTS = 2;
const SLOTS = 4;
const FULL: JobsSizes = { jobs: 2_000, rounds: 3, samples: 40 };
const QUICK: JobsSizes = { jobs: 100, rounds: 1, samples: 5 };

/** One measurement's jobs: the keys added and how many times each ran. */
export interface JobsRecord {
  system: string;
  measure: 'throughput' | 'latency';
  expected: string[];
  runs: Map<string, number>;
  /** Jobs the database does not hold as done. */
  unfinished: number;
}

export interface JobsMeasurement {
  rows: Row[];
  records: JobsRecord[];
}

export async function jobsSuite({ quick }: SuiteOptions): Promise<Row[]> {
  return (await measureJobs(quick ? QUICK : FULL)).rows;
}

/** The suite's measurements at the given sizes; `database` defaults to `TROUPE_DATABASE_URL`. */
export async function measureJobs(
  sizes: JobsSizes,
  database = process.env.TROUPE_DATABASE_URL,
): Promise<JobsMeasurement> {
  const server = database ? undefined : await startPrivatePostgres({ startTimeoutMs: 60_000 });
  const url = database ?? server!.url;
  const suffix = randomBytes(4).toString('hex');
  const queues: BenchQueue[] = [
    new TroupeQueue(url, `bench_troupe_${suffix}`),
    new GraphileQueue(url, `bench_graphile_${suffix}`),
    new PgBossQueue(url, `bench_pgboss_${suffix}`),
    new MemoryQueue(),
  ];
  try {
    for (const queue of queues) await queue.prepare();
    const records: JobsRecord[] = [];
    const throughput = new Map(queues.map((queue) => [queue.name, [] as number[]]));
    for (let round = 0; round < sizes.rounds; round++) {
      for (const queue of queues) {
        throughput.get(queue.name)!.push(await jobsPerSecond(queue, sizes.jobs, round, records));
      }
    }
    const latencies = await addToStart(queues, sizes.samples, records);
    return { rows: rowsOf(sizes, throughput, latencies), records };
  } finally {
    // Whatever failed above is the error to see: a failure to clean up after it is only told.
    const told = (error: unknown) => console.error('jobs suite: cleaning up:', error);
    for (const queue of queues) await queue.close().catch(told);
    await dropSchemas(
      url,
      queues.flatMap((queue) => queue.schema ?? []),
    ).catch(told);
    await server?.stop();
  }
}

function rowsOf(
  sizes: JobsSizes,
  throughput: Map<string, number[]>,
  latencies: Map<string, number[]>,
): Row[] {
  const troupe = median(throughput.get('troupe')!);
  const rows: Row[] = [];
  for (const [peer, goal] of [
    ['pg-boss', '>= 1'],
    ['graphile-worker', '>= 0.5'],
    ['troupe-memory', undefined],
  ] as const) {
    rows.push(
      row(
        'jobs',
        `jobs/s through the queue, ${AGENTS} agents × ${SLOTS} slots of no-op jobs, ${sizes.jobs} jobs: troupe vs ${label(peer)}`,
        'jobs/s',
        { value: troupe, baseline: median(throughput.get(peer)!) },
        goal,
      ),
    );
  }
  for (const [p, goal] of [
    [50, 'value <= 10 ms'],
    [99, undefined],
  ] as const) {
    for (const peer of ['pg-boss', 'graphile-worker', 'troupe-memory']) {
      rows.push(
        row(
          'jobs',
          `add-to-start p${p}, idle agents, ${sizes.samples} jobs one at a time: troupe vs ${label(peer)}`,
          'ms',
          { value: percentile(latencies.get('troupe')!, p), baseline: percentile(latencies.get(peer)!, p) },
          peer === 'troupe-memory' ? undefined : goal,
        ),
      );
    }
  }
  return rows;
}

/** The in-memory reference is the same troupe agents, without the database. */
function label(peer: string): string {
  return peer === 'troupe-memory' ? 'the same agents on MemoryJobServer (no database)' : peer;
}

/**
 * `count` jobs added while no agent runs, then agents started on them: jobs per second from the
 * first job's start to the last one's end (the agents' start and the adding are not counted).
 */
async function jobsPerSecond(
  queue: BenchQueue,
  count: number,
  round: number,
  records: JobsRecord[],
): Promise<number> {
  const jobs = ledger();
  jobs.reset();
  const keys = Array.from({ length: count }, (_, i) => `${queue.name}.${round}.${i}`);
  await queue.add(keys);
  await queue.start(AGENTS, SLOTS);
  try {
    // Bounded: a system that stalls fails the suite instead of hanging it (10 jobs/s at worst).
    await jobs.whenEnded(count, Math.max(60_000, count * 100));
  } finally {
    await queue.stop();
  }
  const spanMs = jobs.spanMs;
  await record(queue, 'throughput', keys, records);
  return (count * 1_000) / spanMs;
}

/**
 * Every queue's agents started and left idle, then one job at a time added to each in turn: the
 * time from just before the add to the job's start, in ms, per queue.
 */
async function addToStart(
  queues: readonly BenchQueue[],
  samples: number,
  records: JobsRecord[],
): Promise<Map<string, number[]>> {
  const jobs = ledger();
  jobs.reset();
  const latencies = new Map(queues.map((queue) => [queue.name, [] as number[]]));
  const keys = new Map(queues.map((queue) => [queue.name, [] as string[]]));
  try {
    for (const queue of queues) await queue.start(AGENTS, SLOTS);
    // Long enough for every agent to have connected, listened, and looked once for work.
    await pause(1_000);
    let ended = 0;
    for (let i = 0; i < samples; i++) {
      for (const queue of queues) {
        const key = `${queue.name}.latency.${i}`;
        keys.get(queue.name)!.push(key);
        const started = jobs.startOf(key, 10_000);
        const before = performance.now();
        await queue.add([key]);
        latencies.get(queue.name)!.push((await started) - before);
        await jobs.whenEnded(++ended, 10_000);
        // The agent that ran it goes back to waiting before the next job comes.
        await pause(50);
      }
    }
  } finally {
    for (const queue of queues) await queue.stop();
  }
  // The ledger holds every queue's jobs: each record keeps its own.
  for (const queue of queues) await record(queue, 'latency', keys.get(queue.name)!, records);
  return latencies;
}

/** What ran of `expected`; throws when a job was lost, ran twice, or is not done in the database. */
async function record(
  queue: BenchQueue,
  measure: JobsRecord['measure'],
  expected: string[],
  records: JobsRecord[],
): Promise<void> {
  const jobs = ledger();
  const mine = new Set(expected);
  const runs = new Map([...jobs.runs].filter(([key]) => mine.has(key) || key.startsWith(`${queue.name}.`)));
  const entry = { system: queue.name, measure, expected, runs, unfinished: await queue.unfinished() };
  records.push(entry);
  const lost = expected.filter((key) => !runs.has(key));
  const repeated = [...runs].filter(([, times]) => times > 1);
  const unknown = [...runs.keys()].filter((key) => !mine.has(key));
  if (lost.length + repeated.length + unknown.length > 0 || entry.unfinished > 0) {
    throw new Error(
      `${queue.name} ${measure}: ${lost.length} jobs lost, ${repeated.length} run more than once, ` +
        `${unknown.length} unknown, ${entry.unfinished} not done in the database ` +
        `(e.g. ${[...lost, ...repeated.map(([key]) => key), ...unknown].slice(0, 3).join(', ')})`,
    );
  }
}

async function dropSchemas(url: string, schemas: readonly string[]): Promise<void> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    for (const schema of schemas) await client.query(`drop schema if exists "${schema}" cascade`);
  } finally {
    await client.end();
  }
}

/** The nearest-rank percentile. */
function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
