import { describe, expect, it } from 'vitest';
import { runSuites, suites } from '../dist/run.js';

describe('benchmarks', () => {
  it('every suite runs in quick mode and prints rows with a baseline and a ratio', async () => {
    // Two suites have tests of their own, at a tinier size than quick mode, that check their
    // values too: jobs (a PostgreSQL server and three queues, jobs.test.ts) and workload (every
    // linter on a generated repo, checked against eslint, workload.test.ts).
    const rows = await runSuites(
      Object.keys(suites).filter((name) => name !== 'jobs' && name !== 'workload'),
      true,
    );
    expect(rows.length).toBeGreaterThanOrEqual(7);
    for (const row of rows) {
      expect(Object.keys(row)).toEqual(
        expect.arrayContaining(['suite', 'name', 'unit', 'value', 'baseline', 'ratio']),
      );
      if (row.pending !== undefined) {
        // A goal set before what it measures exists: no figure, and a reason.
        expect(row.pending).not.toBe('');
        expect(row.goal).toBeDefined();
        expect([row.value, row.ratio]).toEqual([Number.NaN, Number.NaN]);
        continue;
      }
      for (const figure of [row.value, row.baseline, row.ratio]) {
        expect(Number.isFinite(figure)).toBe(true);
        expect(figure).toBeGreaterThan(0);
      }
      expect(row.ratio).toBeCloseTo(row.value / row.baseline, 6);
    }
  });

  it('the quality suite, quick: declared, discovered and restartable rows, each with a figure', async () => {
    const rows = await runSuites(['quality'], true);
    expect(rows.map((row) => [row.name.split(',')[0], row.goal ?? '', row.pending !== undefined])).toEqual([
      ['declared dependencies', '<= 1.03', false],
      ['declared dependencies', '<= 1.15', false],
      ['discovered dependencies (ctx.build)', '', false],
      ['discovered dependencies (ctx.build)', '', false],
      ['discovered dependencies', '<= 1.10', false],
      ['discovered dependencies', '', false],
    ]);
    expect(rows[4]!.name).toContain('restartable requests');
    for (const row of rows.filter((r) => r.pending === undefined))
      expect(row.value).toBeGreaterThanOrEqual(1);
  });
});
