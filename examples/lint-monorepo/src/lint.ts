// The troupe lint: one request per workspace package on a pool of process nodes, each node keeping
// its ESLint and TypeScript state warm across the packages it lints (and, with reuse, across runs).
import { createRuntime } from '@troupe/core';
import { readRepo } from './repo.js';
import { type LintPackageInput, lintPackage, type PackageReport } from './tasks.js';

export type { FileReport, LintMessage, PackageReport } from './tasks.js';

export interface LintOptions {
  /** The repo's root, absolute. */
  repo: string;
  /** Process nodes at most. */
  nodes: number;
  /** Reuse idle nodes an earlier run left, and leave these idle for the next run. */
  reuse: boolean;
  /** With `reuse`: leave the nodes idle afterwards (default true); false shuts them down. */
  keepNodes?: boolean;
  /** Pair only with idle nodes of this session (process nodes' handshake salt). */
  session?: string;
  signal?: AbortSignal;
  /** Called as each package is done. */
  onPackage?: (report: PackageReport & { name: string }, done: number, total: number) => void;
}

export interface LintSummary {
  repo: string;
  /** Every package, in folder order. */
  packages: Array<PackageReport & { name: string }>;
  files: number;
  errors: number;
  warnings: number;
  /** The nodes' processes, as the packages' reports name them. */
  pids: number[];
  /** Packages linted by an ESLint instance that had already served a package (on its node). */
  warmPackages: number;
  /** From the start to the end of the run: reading the repo, starting nodes, linting, shutdown. */
  ms: number;
}

/** One package or more could not be linted (a config that does not load, a lost node). */
export class LintFailedError extends Error {
  override readonly name = 'LintFailedError';
  constructor(readonly failures: ReadonlyArray<{ dir: string; error: Error }>) {
    super(
      `${failures.length} package(s) could not be linted:\n` +
        failures.map(({ dir, error }) => `  ${dir}: ${error.message}`).join('\n'),
    );
  }
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
      ...(options.session !== undefined && { process: { session: options.session } }),
      // The first package on a node builds its TypeScript program in one synchronous stretch,
      // seconds long on a busy machine: well past the default 10 s bound only if something is
      // wrong, but a lint is not worth failing for a slow program build.
      pingTimeoutMs: 120_000,
    },
  });
  const reports: Array<PackageReport & { name: string }> = [];
  const failures: Array<{ dir: string; error: Error }> = [];
  try {
    const total = repo.packages.length;
    await Promise.all(
      repo.packages.map(async (pkg) => {
        const input: LintPackageInput = { root: repo.root, dir: pkg.dir, fingerprint: repo.fingerprint };
        try {
          const report = await runtime.build<PackageReport>(
            { task: lintPackage, input, cost: Math.max(1, pkg.bytes) },
            { ...(options.signal && { signal: options.signal }) },
          );
          const named = { ...report, name: pkg.name };
          reports.push(named);
          options.onPackage?.(named, reports.length, total);
        } catch (error) {
          failures.push({ dir: pkg.dir, error: error instanceof Error ? error : new Error(String(error)) });
        }
      }),
    );
  } finally {
    await runtime.shutdown({ reuse: options.reuse && options.keepNodes !== false });
  }
  options.signal?.throwIfAborted();
  if (failures.length > 0) throw new LintFailedError(failures);
  reports.sort((a, b) => (a.dir < b.dir ? -1 : a.dir > b.dir ? 1 : 0));
  return {
    repo: repo.root,
    packages: reports,
    files: reports.reduce((sum, report) => sum + report.files.length, 0),
    errors: reports.reduce((sum, report) => sum + report.errors, 0),
    warnings: reports.reduce((sum, report) => sum + report.warnings, 0),
    pids: [...new Set(reports.map((report) => report.pid))].sort((a, b) => a - b),
    warmPackages: reports.filter((report) => report.warm).length,
    ms: performance.now() - started,
  };
}
