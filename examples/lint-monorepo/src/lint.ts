// The troupe lint: one request per workspace package on a pool of process nodes, each node keeping
// its ESLint and TypeScript state warm across the packages it lints (and, with reuse, across runs).
import { join } from 'node:path';
import { createRuntime, type ProcessNodeProviderOptions } from '@troupe/core';
import { readRepo } from './repo.js';
import { type LintPackageInput, lintPackage, type PackageReport } from './tasks.js';

export { type RepoPackage, type RepoView, readRepo } from './repo.js';
export { type FileReport, type LintMessage, type PackageReport, toFileReports } from './tasks.js';

/** The results cache's folder in a repo, by default (a dot folder: no fingerprint of it is taken). */
export const CACHE_FOLDER = '.troupe-lint-cache';

export interface LintOptions {
  /** The repo's root, absolute. */
  repo: string;
  /** Process nodes at most. */
  nodes: number;
  /** Reuse idle nodes an earlier run left, and leave these idle for the next run. */
  reuse: boolean;
  /** With `reuse`: leave the nodes idle afterwards (default true); false shuts them down. */
  keepNodes?: boolean;
  /**
   * Where lint results are kept by package key (`RepoPackage.key`), reused for packages whose key
   * is unchanged; false: lint every package. Default: with `reuse`, `.troupe-lint-cache` in the
   * repo (as ESLint keeps `.eslintcache` there); without, false.
   */
  cache?: string | false;
  /**
   * Process nodes' session (pair only with idle nodes of the same one) and transport (the folder
   * their sockets and records live in): what keeps a test's nodes apart from everyone else's; and
   * how long a node left idle waits for the next run before it exits (default 15 minutes).
   */
  process?: Pick<ProcessNodeProviderOptions, 'session' | 'transport' | 'idleTimeoutMs'>;
  signal?: AbortSignal;
  /** Called as each package is done. */
  onPackage?: (report: PackageReport & { name: string }, done: number, total: number) => void;
}

export interface LintSummary {
  repo: string;
  /** Every package, in folder order (`readRepo`'s). */
  packages: Array<PackageReport & { name: string }>;
  files: number;
  errors: number;
  warnings: number;
  /** The nodes' processes, as the packages' reports name them. */
  pids: number[];
  /**
   * Packages linted by an ESLint instance that had already served a package (on its node); not
   * those whose results came from the cache, which were not linted at all.
   */
  warmPackages: number;
  /** Packages whose results came from the cache. */
  cachedPackages: number;
  /** Each node's peak resident set size in kB, by pid, as its last report gave it. */
  nodeMaxRssKB: Record<number, number>;
  /** From the start to the end of the run: reading the repo, starting nodes, linting, shutdown. */
  ms: number;
}

/** ESLint could not lint one package or more (a config that does not load, a parser that throws). */
export class LintFailedError extends Error {
  override readonly name = 'LintFailedError';
  constructor(readonly failures: ReadonlyArray<{ dir: string; error: string }>) {
    super(
      `${failures.length} package(s) could not be linted:\n` +
        failures.map(({ dir, error }) => `  ${dir}: ${error}`).join('\n'),
    );
  }
}

function peaks(reports: readonly PackageReport[]): Record<number, number> {
  const peak: Record<number, number> = {};
  for (const { pid, maxRssKB } of reports) peak[pid] = Math.max(peak[pid] ?? 0, maxRssKB);
  return peak;
}

export async function lintMonorepo(options: LintOptions): Promise<LintSummary> {
  const started = performance.now();
  options.signal?.throwIfAborted();
  const repo = await readRepo(options.repo);
  const runtime = createRuntime({
    nodes: {
      kind: 'process',
      max: options.nodes,
      reuse: options.reuse,
      ...(options.process && { process: options.process }),
      // The first package on a node builds its TypeScript program in one synchronous stretch,
      // seconds long on a busy machine: well past the default 10 s bound only if something is
      // wrong, but a lint is not worth failing for a slow program build.
      pingTimeoutMs: 120_000,
    },
    // Every node linting while packages wait is not a stall but the work: a large package on a
    // busy machine lints for well over the default 15 s without finishing or yielding.
    stallTimeoutMs: 600_000,
  });
  const cacheDir =
    options.cache === undefined ? (options.reuse ? join(repo.root, CACHE_FOLDER) : false) : options.cache;
  const names = new Map(repo.packages.map((pkg) => [pkg.dir, pkg.name]));
  const named = (report: PackageReport) => ({ ...report, name: names.get(report.dir) ?? report.dir });
  let done = 0;
  runtime.on('request', (request, _from, to) => {
    if (to === 'completed') options.onPackage?.(named(request.value as PackageReport), ++done, names.size);
  });
  let reports: Array<PackageReport & { name: string }>;
  try {
    // One build for every package, not a build each: the pool then grows by all the nodes it
    // wants at once, and a reusing provider claims the idle nodes in one go. (Builds submitted one
    // by one grow it a node at a time, and two concurrent claims can each miss an idle node the
    // other is holding for a moment, launching a fresh one instead.)
    const values = await runtime.build<PackageReport>(
      repo.packages.map((pkg) => ({
        task: lintPackage,
        input: {
          root: repo.root,
          dir: pkg.dir,
          fingerprint: repo.fingerprint,
          ...(cacheDir !== false && { cache: { dir: cacheDir, key: pkg.key } }),
        } satisfies LintPackageInput,
        cost: Math.max(1, pkg.bytes),
      })),
      { ...(options.signal && { signal: options.signal }) },
    );
    reports = values.map(named);
  } finally {
    await runtime.shutdown({ reuse: options.reuse && options.keepNodes !== false });
  }
  const failures = reports.filter((report) => report.error !== undefined);
  if (failures.length > 0)
    throw new LintFailedError(failures.map((report) => ({ dir: report.dir, error: report.error! })));
  return {
    repo: repo.root,
    packages: reports,
    files: reports.reduce((sum, report) => sum + report.files.length, 0),
    errors: reports.reduce((sum, report) => sum + report.errors, 0),
    warnings: reports.reduce((sum, report) => sum + report.warnings, 0),
    pids: [...new Set(reports.map((report) => report.pid))].sort((a, b) => a - b),
    warmPackages: reports.filter((report) => report.warm && !report.cached).length,
    cachedPackages: reports.filter((report) => report.cached).length,
    nodeMaxRssKB: peaks(reports),
    ms: performance.now() - started,
  };
}
