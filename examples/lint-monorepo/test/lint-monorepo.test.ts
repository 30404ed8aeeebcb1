// The troupe lint against ESLint itself: on a small generated repo, every message (file, line,
// column, end, rule, severity, text) and every count equals what the `eslint` CLI reports for the
// same files, with fresh nodes, with reused warm nodes (from their results cache), and after an edit
// the warm nodes must see, which re-lints the edited package and its dependants only.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { shutdownAll } from '@troupe/core';
import { PipeTransport } from '@troupe/transport';
import type { ESLint } from 'eslint';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateRepo } from '../dist/generate.js';
import { type LintSummary, lintMonorepo } from '../dist/lint.js';
import { planRepo } from '../dist/plan.js';
import { type FileReport, toFileReports } from '../dist/tasks.js';

const SMALL = { packages: 4, lines: 300, seed: 7 };
/**
 * Each test starts ESLint and TypeScript in several processes (about 15 s alone on a busy 2-core
 * machine); the suite's other files compete for those cores, hence more than the default 60 s.
 */
const SLOW = { timeout: 180_000 };
const eslintBin = join(
  dirname(createRequire(import.meta.url).resolve('eslint/package.json')),
  'bin/eslint.js',
);

/** `eslint -f json .` in the repo, in one process, as a user would run it. */
function eslintCli(repo: string): Promise<FileReport[]> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [eslintBin, '--format', 'json', '.'],
      { cwd: repo, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        // Exit code 1 means lint errors were found; anything else is a failure to lint.
        if (error && error.code !== 1) reject(new Error(`eslint failed (${String(error.code)}): ${stderr}`));
        else resolve(toFileReports(repo, JSON.parse(stdout) as ESLint.LintResult[]));
      },
    );
  });
}

/** The summary's reports of every package, as one list in path order, like the CLI's. */
function files(summary: LintSummary): FileReport[] {
  return summary.packages
    .flatMap((pkg) => pkg.files)
    .sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
}

const totals = (reports: readonly FileReport[]) => ({
  errors: reports.reduce((sum, file) => sum + file.errors, 0),
  warnings: reports.reduce((sum, file) => sum + file.warnings, 0),
  messages: reports.reduce((sum, file) => sum + file.messages.length, 0),
});

const isRunning = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * The floating promises that are calls of another package's `fetch<Entity>`: found only if the
 * type of that package's function was resolved through the tsconfig's paths.
 */
async function crossPackageFloating(repo: string, reports: readonly FileReport[]): Promise<string[]> {
  const owner = new Map<string, string>();
  for (const pkg of planRepo(SMALL).packages)
    for (const module of pkg.modules) owner.set(module.entity.name, pkg.dir);
  const found: string[] = [];
  for (const report of reports) {
    const lines = (await readFile(join(repo, report.file), 'utf8')).split('\n');
    for (const m of report.messages) {
      if (m.ruleId !== '@typescript-eslint/no-floating-promises') continue;
      const entity = /fetch(\w+)\(/.exec(lines[m.line - 1] ?? '')?.[1];
      const from = entity === undefined ? undefined : owner.get(entity);
      if (from !== undefined && !report.file.startsWith(`${from}/`)) found.push(`${report.file}:${m.line}`);
    }
  }
  return found;
}

let temp: string;
/** The nodes' own socket folder in the test's temp folder: no other test's or user's nodes there. */
let transport: PipeTransport;
/** Every node process a run reported: killed after the test if a failure left one behind. */
const pids = new Set<number>();

beforeEach(async () => {
  temp = await mkdtemp(join(tmpdir(), 'lint-monorepo-'));
  transport = new PipeTransport({ directory: join(temp, 'nodes') });
});

afterEach(async () => {
  // Idle nodes a reuse run left (or that a run did not pick up again) are asked to exit.
  await shutdownAll({ transport });
  for (const pid of pids) if (isRunning(pid)) process.kill(pid, 'SIGKILL');
  pids.clear();
  await rm(temp, { recursive: true, force: true });
});

function record(summary: LintSummary): LintSummary {
  for (const pid of summary.pids) pids.add(pid);
  return summary;
}

describe('examples/lint-monorepo', () => {
  it(
    'lints each package on process nodes to exactly the messages and counts eslint reports',
    SLOW,
    async () => {
      const repo = join(temp, 'repo');
      await generateRepo(repo, SMALL);
      const summary = record(await lintMonorepo({ repo, nodes: 2, reuse: false, process: { transport } }));
      const expected = await eslintCli(repo);
      // Without reuse, no results cache: every package was linted.
      expect(summary.cachedPackages).toBe(0);

      expect(files(summary)).toEqual(expected);
      expect(summary.packages.map((pkg) => pkg.dir)).toEqual(
        planRepo(SMALL)
          .packages.map((pkg) => pkg.dir)
          .sort(),
      );
      const { errors, warnings } = totals(expected);
      expect([summary.errors, summary.warnings, summary.files]).toEqual([errors, warnings, expected.length]);
      // Type-aware rules found what the generator put there, across packages too: a dependency's
      // async function called without await is a floating promise only if its type was resolved.
      const rules = new Set(expected.flatMap((file) => file.messages.map((m) => m.ruleId)));
      for (const rule of ['no-floating-promises', 'no-unsafe-member-access', 'no-unnecessary-condition'])
        expect(rules).toContain(`@typescript-eslint/${rule}`);
      expect(await crossPackageFloating(repo, expected)).not.toEqual([]);
      expect(errors).toBeGreaterThan(0);
      expect(warnings).toBeGreaterThan(0);
      // Without reuse, the nodes are gone once the run has returned.
      expect(summary.pids.filter(isRunning)).toEqual([]);
    },
  );

  it(
    'reused nodes lint warm to the same results, and see an edit to a dependency in its dependents',
    SLOW,
    async () => {
      const repo = join(temp, 'repo');
      await generateRepo(repo, SMALL);
      const nodes = { transport };
      const first = record(await lintMonorepo({ repo, nodes: 2, reuse: true, process: nodes }));
      const second = record(await lintMonorepo({ repo, nodes: 2, reuse: true, process: nodes }));
      expect(files(second)).toEqual(files(first));
      // Nothing changed: every package's results come from the cache the first run filled.
      expect([first.cachedPackages, second.cachedPackages]).toEqual([0, SMALL.packages]);
      // ...so none was linted, warm or not (the count once said every package was both).
      expect(second.warmPackages).toBe(0);
      // The second run found the first run's nodes idle, with ESLint and TypeScript still loaded.
      const reusedWarm = second.packages.filter((pkg) => first.pids.includes(pkg.pid) && pkg.warm);
      expect(reusedWarm.length).toBeGreaterThan(0);
      for (const pkg of second.packages) if (first.pids.includes(pkg.pid)) expect(pkg.warm).toBe(true);

      // An API change in the bottom package: its fetch functions are no longer async. Its dependents'
      // calls stop being floating promises, and their awaits become awaits of non-promises: what a
      // node that kept the old types would get wrong.
      const base = planRepo(SMALL).packages[0]!;
      for (const module of base.modules) {
        const path = join(repo, base.dir, 'src', module.file);
        const text = await readFile(path, 'utf8');
        const name = module.entity.name;
        const edited = text.replace(
          `export async function fetch${name}(id: string): Promise<${name}> {\n  await Promise.resolve();\n`,
          `export function fetch${name}(id: string): ${name} {\n`,
        );
        expect(edited).not.toBe(text);
        await writeFile(path, edited);
      }
      const third = record(
        await lintMonorepo({ repo, nodes: 2, reuse: true, keepNodes: false, process: nodes }),
      );
      // Only the edited package and the packages that depend on it, directly or not, are linted
      // again; the others keep their cached results (and are still right: compared below).
      const plan = planRepo(SMALL).packages;
      const affected = new Set([0]);
      for (let grown = true; grown; ) {
        grown = false;
        for (const pkg of plan)
          if (!affected.has(pkg.index) && pkg.deps.some((dep) => affected.has(dep))) {
            affected.add(pkg.index);
            grown = true;
          }
      }
      const unaffected = plan.filter((pkg) => !affected.has(pkg.index)).map((pkg) => pkg.dir);
      expect(unaffected.length).toBeGreaterThan(0);
      expect(affected.size).toBeGreaterThan(1);
      expect(third.packages.filter((pkg) => pkg.cached).map((pkg) => pkg.dir)).toEqual(unaffected.sort());
      // Reused nodes linted after the edit, and dropped the state they had kept (their first
      // package this run was linted cold): a fresh node would prove nothing here.
      const reused = third.packages.filter((pkg) => first.pids.includes(pkg.pid));
      expect(reused.length).toBeGreaterThan(0);
      expect(reused.some((pkg) => !pkg.warm)).toBe(true);
      const expected = await eslintCli(repo);
      expect(files(third)).toEqual(expected);
      const dependents = (summary: readonly FileReport[]) =>
        summary.filter((file) => !file.file.startsWith(`${base.dir}/`));
      expect(dependents(expected)).not.toEqual(dependents(files(first)));
      // keepNodes false: the nodes of the last run are shut down, not left idle.
      expect(third.pids.filter(isRunning)).toEqual([]);
    },
  );
});
