import { describe, expect, it } from 'vitest';
import { runSuites, suites } from '../dist/run.js';

describe('benchmarks', () => {
  it('every suite runs in quick mode and prints rows with a baseline and a ratio', async () => {
    const rows = await runSuites(Object.keys(suites), true);
    expect(rows.length).toBeGreaterThanOrEqual(7);
    for (const row of rows) {
      expect(Object.keys(row)).toEqual(
        expect.arrayContaining(['suite', 'name', 'unit', 'value', 'baseline', 'ratio']),
      );
      for (const figure of [row.value, row.baseline, row.ratio]) {
        expect(Number.isFinite(figure)).toBe(true);
        expect(figure).toBeGreaterThan(0);
      }
      expect(row.ratio).toBeCloseTo(row.value / row.baseline, 6);
    }
  });
});
