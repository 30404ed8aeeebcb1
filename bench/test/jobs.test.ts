// The `jobs` suite at a tiny size on a private PostgreSQL server: its rows have the table's shape,
// every job each system was given ran exactly once and is done in the database, and the suite
// leaves no schema behind.
import { type PrivatePostgres, startPrivatePostgres } from '@troupe/testing/internal';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { measureJobs } from '../dist/suites/jobs.js';

let server: PrivatePostgres | undefined;
beforeAll(async () => {
  server = await startPrivatePostgres({ startTimeoutMs: 60_000 });
}, 90_000);
afterAll(async () => {
  await server?.stop();
}, 60_000);

describe('the jobs bench suite', () => {
  it('measures troupe, graphile-worker, pg-boss and troupe without a database on the same jobs, each run exactly once', async () => {
    const { rows, records } = await measureJobs({ jobs: 30, rounds: 1, samples: 3 }, server!.url);

    const memory = 'troupe vs the same agents on MemoryJobServer (no database)';
    expect(rows.map((row) => [row.suite, row.unit, row.name.split(': ')[1], row.goal ?? ''])).toEqual([
      ['jobs', 'jobs/s', 'troupe vs pg-boss', '>= 1'],
      ['jobs', 'jobs/s', 'troupe vs graphile-worker', '>= 0.5'],
      ['jobs', 'jobs/s', memory, ''],
      ['jobs', 'ms', 'troupe vs pg-boss', 'value <= 10 ms'],
      ['jobs', 'ms', 'troupe vs graphile-worker', 'value <= 10 ms'],
      ['jobs', 'ms', memory, ''],
      ['jobs', 'ms', 'troupe vs pg-boss', ''],
      ['jobs', 'ms', 'troupe vs graphile-worker', ''],
      ['jobs', 'ms', memory, ''],
    ]);
    expect(rows.map((row) => row.name.split(',')[0])).toEqual([
      ...Array(3).fill('jobs/s through the queue'),
      ...Array(3).fill('add-to-start p50'),
      ...Array(3).fill('add-to-start p99'),
    ]);
    for (const row of rows) {
      for (const figure of [row.value, row.baseline, row.ratio]) {
        expect(Number.isFinite(figure)).toBe(true);
        expect(figure).toBeGreaterThan(0);
      }
      expect(row.ratio).toBeCloseTo(row.value / row.baseline, 6);
    }
    // p99 is never below p50, for troupe and for each peer.
    for (let i = 3; i < 6; i++) {
      expect(rows[i + 3]!.value).toBeGreaterThanOrEqual(rows[i]!.value);
      expect(rows[i + 3]!.baseline).toBeGreaterThanOrEqual(rows[i]!.baseline);
    }

    expect(records.map((record) => [record.system, record.measure, record.expected.length])).toEqual([
      ['troupe', 'throughput', 30],
      ['graphile-worker', 'throughput', 30],
      ['pg-boss', 'throughput', 30],
      ['troupe-memory', 'throughput', 30],
      ['troupe', 'latency', 3],
      ['graphile-worker', 'latency', 3],
      ['pg-boss', 'latency', 3],
      ['troupe-memory', 'latency', 3],
    ]);
    for (const record of records) {
      // The keys that ran, each once: exactly the keys added, whatever order they ran in.
      const ran = [...record.runs].sort(([a], [b]) => a.localeCompare(b));
      const added = record.expected
        .map((key) => [key, 1])
        .sort(([a], [b]) => String(a).localeCompare(String(b)));
      expect(ran).toEqual(added);
      expect(record.expected.every((key) => key.startsWith(`${record.system}.`))).toBe(true);
      expect(record.unfinished).toBe(0);
    }

    const client = new pg.Client(server!.url);
    await client.connect();
    try {
      const { rows: left } = await client.query(
        "select schema_name from information_schema.schemata where schema_name like 'bench\\_%'",
      );
      expect(left).toEqual([]);
    } finally {
      await client.end();
    }
  }, 120_000);
});
