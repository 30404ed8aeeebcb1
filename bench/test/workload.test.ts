// The workload suite's machinery at a tiny size: every tool lints the same generated repo, and each
// one's messages (file, line, column, rule, severity, text) and counts equal what a separate
// `eslint -f json .` reports on it; the reused troupe run answers every package from its cache.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { type FileReport, toFileReports } from '@troupe/example-lint-monorepo';
import { generateRepo } from '@troupe/example-lint-monorepo/generate';
import { describe, expect, it } from 'vitest';
import {
  type Comparison,
  compareTools,
  TOOLS,
  type ToolName,
  workloadRows,
} from '../dist/suites/workload.js';

const run = promisify(execFile);
/** Small enough for CI (each tool starts ESLint and TypeScript at least once), big enough for deps. */
const TINY = { packages: 3, lines: 120, seed: 3, rounds: 1, cores: 2 };

/** A separate `eslint -f json .` on a freshly generated copy of the same repo (same seed). */
async function eslintReference(): Promise<FileReport[]> {
  const temp = await mkdtemp(join(tmpdir(), 'workload-test-'));
  try {
    const root = join(temp, 'repo');
    await generateRepo(root, TINY);
    const eslint = join(
      dirname(createRequire(join(root, 'package.json')).resolve('eslint/package.json')),
      'bin/eslint.js',
    );
    const { stdout } = await run(process.execPath, [eslint, '-f', 'json', '.'], {
      cwd: root,
      maxBuffer: 64 << 20,
    }).catch(
      // Exit code 1: lint errors found, the output is complete.
      (error: { code?: number; stdout?: string }) => {
        if (error.code !== 1) throw error;
        return { stdout: error.stdout! };
      },
    );
    return toFileReports(root, JSON.parse(stdout) as Parameters<typeof toFileReports>[1]);
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}

describe('workload suite', () => {
  it('every tool reports exactly the messages eslint reports on the same repo', {
    timeout: 300_000,
  }, async () => {
    const comparison: Comparison = await compareTools(TINY);
    const reference = await eslintReference();
    const ran = Object.keys(comparison.tools) as ToolName[];
    expect(ran).toEqual(
      expect.arrayContaining(['eslint', 'eslintAuto', 'cold', 'troupeFresh', 'troupeReused']),
    );
    // Lage is the one tool allowed to be missing (it must then say why), never silently.
    if (comparison.lageMissing === undefined) expect(ran).toContain('lage');
    for (const tool of ran) {
      expect(comparison.tools[tool]!.files, TOOLS[tool]).toEqual(reference);
      expect(comparison.tools[tool]!.peakKB).toBeGreaterThan(10_000);
    }
    expect(reference.length).toBeGreaterThan(TINY.packages);
    expect(reference.reduce((sum, file) => sum + file.errors, 0)).toBeGreaterThan(0);
    // The reused run changed nothing: every package's results came from the cache.
    expect(comparison.reusedCached).toBe(TINY.packages);
    expect(comparison.reusedNodes).toBe(true);
    const rows = workloadRows(comparison, TINY);
    expect(rows.filter((row) => row.unit === 'ms')).toHaveLength(8);
    for (const row of rows.filter((r) => r.pending === undefined))
      expect(row.ratio).toBeCloseTo(row.baseline / row.value);
  });
});
