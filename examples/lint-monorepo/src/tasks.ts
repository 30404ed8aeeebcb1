// The task process nodes run: lint one package with ESLint's Node API. The ESLint instance (its
// parsed config) and typescript-eslint's TypeScript state are kept in the node between requests,
// and between runs on a reused node, for as long as the repo's files are unchanged; with a results
// cache, a package whose key (its files' and its dependencies' content) is unchanged is not linted.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, relative, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { defineTask, type Task } from '@troupe/core';
import type { ESLint } from 'eslint';

export interface LintPackageInput {
  /** The repo's root, absolute: ESLint's cwd, where it finds the config. */
  root: string;
  /** The package's folder, relative to the root. */
  dir: string;
  /** The repo's fingerprint as the host read it (`readRepo`). */
  fingerprint: string;
  /** Where results are kept by package key, to reuse and to fill; none: always lint. */
  cache?: { dir: string; key: string };
}

/** One message, as the `eslint` CLI's JSON output has it (fields that are absent stay absent). */
export interface LintMessage {
  line: number;
  column: number;
  endLine?: number;
  endColumn?: number;
  ruleId: string | null;
  severity: 1 | 2;
  message: string;
  fatal?: boolean;
}

export interface FileReport {
  /** Relative to the repo's root, with forward slashes. */
  file: string;
  errors: number;
  warnings: number;
  messages: LintMessage[];
}

export interface PackageReport {
  dir: string;
  files: FileReport[];
  errors: number;
  warnings: number;
  /** The node's process. */
  pid: number;
  /** Whether the ESLint instance (and TypeScript state) had served an earlier request on this node. */
  warm: boolean;
  /** Requests its ESLint instance served before this one, on this node, in this run or earlier ones. */
  served: number;
  /** Time spent in `lintFiles` on the node (0 when cached). */
  lintMs: number;
  /** The results came from the cache: the package's key had been linted before. */
  cached: boolean;
  /** The node's peak resident set size so far, in kB (its process's `maxRSS`). */
  maxRssKB: number;
  /** Why ESLint could not lint the package (its files and counts are then empty). */
  error?: string;
}

interface Warm {
  eslint: ESLint;
  fingerprint: string;
  served: number;
}

/** Kept ESLint instances by repo root; a handful, so a long-lived node cannot grow without bound. */
const warm = new Map<string, Warm>();
const MAX_REPOS = 4;

/**
 * Drops typescript-eslint's caches: its project service does not watch files (its watchers are
 * stubs), so a file that changed since it was read is seen only by a fresh one. The copy to clear
 * is the one the repo's config loads: `typescript-eslint` resolved from the repo.
 */
async function clearTypeScriptState(root: string): Promise<void> {
  let parser: string;
  try {
    const fromRepo = createRequire(join(root, 'package.json'));
    parser = createRequire(fromRepo.resolve('typescript-eslint')).resolve('@typescript-eslint/parser');
  } catch {
    return; // The repo's config does not use typescript-eslint: nothing of it to clear.
  }
  const module = (await import(pathToFileURL(parser).href)) as { clearCaches?: () => void };
  module.clearCaches?.();
}

async function linterFor(root: string, fingerprint: string): Promise<Warm> {
  const kept = warm.get(root);
  if (kept?.fingerprint === fingerprint) return kept;
  if (kept || warm.size >= MAX_REPOS) {
    // Stale TypeScript state would give wrong types for files that changed: start over, for all.
    warm.clear();
    await clearTypeScriptState(root);
  }
  // Loaded on the node only: the host imports this module for the task, not for ESLint.
  const { ESLint } = await import('eslint');
  const fresh: Warm = {
    // A package with nothing to lint is not an error, as it is not for `eslint .`.
    eslint: new ESLint({ cwd: root, errorOnUnmatchedPattern: false }),
    fingerprint,
    served: 0,
  };
  warm.set(root, fresh);
  return fresh;
}

function message(from: import('eslint').Linter.LintMessage): LintMessage {
  return {
    line: from.line,
    column: from.column,
    ...(from.endLine !== undefined && { endLine: from.endLine }),
    ...(from.endColumn !== undefined && { endColumn: from.endColumn }),
    ruleId: from.ruleId,
    severity: from.severity === 1 ? 1 : 2,
    message: from.message,
    ...(from.fatal === true && { fatal: true }),
  };
}

/** Results of ESLint's Node API or CLI (`-f json`) in this example's form, files in path order. */
export function toFileReports(root: string, results: readonly ESLint.LintResult[]): FileReport[] {
  return results
    .map((result) => ({
      file: relative(root, result.filePath).split(sep).join('/'),
      errors: result.errorCount,
      warnings: result.warningCount,
      messages: result.messages.map(message),
    }))
    .sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
}

async function cachedFiles(cache: { dir: string; key: string }): Promise<FileReport[] | undefined> {
  try {
    return JSON.parse(await readFile(join(cache.dir, `${cache.key}.json`), 'utf8')) as FileReport[];
  } catch {
    return undefined; // Not linted with this key yet (or a torn file of a killed node): lint it.
  }
}

async function keep(cache: { dir: string; key: string }, files: readonly FileReport[]): Promise<void> {
  await mkdir(cache.dir, { recursive: true });
  // Written aside and renamed: another node reading the same key sees the whole file or none.
  const aside = join(cache.dir, `${cache.key}.${process.pid}.tmp`);
  await writeFile(aside, JSON.stringify(files));
  await rename(aside, join(cache.dir, `${cache.key}.json`));
}

function report(
  dir: string,
  files: FileReport[],
  state: { served: number },
  lintMs: number,
  cached: boolean,
) {
  return {
    dir,
    files,
    errors: files.reduce((sum, file) => sum + file.errors, 0),
    warnings: files.reduce((sum, file) => sum + file.warnings, 0),
    pid: process.pid,
    warm: state.served > 0,
    served: state.served,
    lintMs,
    cached,
    maxRssKB: process.resourceUsage().maxRSS,
  };
}

export const lintPackage: Task<LintPackageInput, PackageReport> = defineTask({
  name: 'lintPackage',
  async run(input: LintPackageInput): Promise<PackageReport> {
    const kept = input.cache && (await cachedFiles(input.cache));
    // A cached package neither loads ESLint nor counts as served: `warm` stays about ESLint.
    if (kept) return report(input.dir, kept, { served: warm.get(input.root)?.served ?? 0 }, 0, true);
    const state = await linterFor(input.root, input.fingerprint);
    const served = { served: state.served++ };
    const started = performance.now();
    let results: ESLint.LintResult[];
    try {
      results = await state.eslint.lintFiles([input.dir]);
    } catch (error) {
      // Reported with the package, so one bad package does not hide the others' results.
      return { ...report(input.dir, [], served, 0, false), error: (error as Error).message };
    }
    const lintMs = performance.now() - started;
    const files = toFileReports(input.root, results);
    if (input.cache) await keep(input.cache, files);
    return report(input.dir, files, served, lintMs, false);
  },
});
