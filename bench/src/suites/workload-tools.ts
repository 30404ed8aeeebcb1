// The ways the workload suite lints one generated monorepo: ESLint's CLI in one process, with its
// own threads, once per package (as Turborepo, Nx and Lage's npm-script runner do), Lage's worker
// runner, and troupe. Each returns its time, its results in one form (so they can be compared with
// `eslint .`'s, message by message) and the peak memory of each Node process it ran.
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { type FileReport, lintMonorepo, toFileReports } from '@troupe/example-lint-monorepo';
import type { PipeTransport } from '@troupe/transport';

const run = promisify(execFile);
const peakRss = fileURLToPath(new URL('../../workers/peak-rss.mjs', import.meta.url));
const lageWorker = fileURLToPath(new URL('../../workers/lage-eslint/worker.mjs', import.meta.url));

export interface ToolRun {
  ms: number;
  /** Every linted file under `packages/`, in path order: what the tools are compared on. */
  files: FileReport[];
  /** Peak resident set size of each Node process the run used, in kB. */
  processKB: number[];
  /** troupe's runs: packages answered from the results cache, and the nodes' pids. */
  troupe?: { cached: number; pids: number[] };
}

/** A generated repo prepared for every tool: packages with their declared deps, and Lage's setup. */
export interface Workspace {
  root: string;
  packages: ReadonlyArray<{ name: string; dir: string; deps: readonly string[] }>;
  /** Scratch space for outputs, removed with the workspace. */
  scratch: string;
  /** Process nodes' private socket folder (nobody else's nodes in it). */
  transport: PipeTransport;
  cores: number;
}

const inPackages = (files: readonly FileReport[]) =>
  files.filter((file) => file.file.startsWith('packages/'));

function eslintBin(root: string): string {
  return join(createRequire(join(root, 'package.json')).resolve('eslint/package.json'), '../bin/eslint.js');
}

/** Runs `node args…` in the repo with the peak-RSS preload; exit code 1 (lint errors) is success. */
async function node(workspace: Workspace, args: readonly string[], env: Record<string, string> = {}) {
  const rss = await mkdtemp(join(workspace.scratch, 'rss-'));
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd: workspace.root,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        ...process.env,
        ...env,
        PEAK_RSS_DIR: rss,
        NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${pathToFileURL(peakRss).href}`.trim(),
      },
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 || code === 1
        ? resolve()
        : reject(new Error(`node ${args.join(' ')} exited ${String(code)}: ${stderr.slice(-2000)}`)),
    );
  });
  const processKB = await Promise.all(
    (await readdir(rss)).map(async (pid) => Number(await readFile(join(rss, pid), 'utf8'))),
  );
  await rm(rss, { recursive: true, force: true });
  return processKB;
}

async function eslintJson(workspace: Workspace, out: string): Promise<FileReport[]> {
  const results = JSON.parse(await readFile(out, 'utf8')) as Parameters<typeof toFileReports>[1];
  return toFileReports(workspace.root, results);
}

/** `eslint .` in one process, or with ESLint's own worker threads (`--concurrency auto`). */
export async function eslintCli(workspace: Workspace, concurrency: 'off' | 'auto'): Promise<ToolRun> {
  const out = join(workspace.scratch, `eslint-${concurrency}.json`);
  const started = performance.now();
  const processKB = await node(workspace, [
    eslintBin(workspace.root),
    '--concurrency',
    concurrency,
    '--format',
    'json',
    '--output-file',
    out,
    '.',
  ]);
  const ms = performance.now() - started;
  return { ms, files: inPackages(await eslintJson(workspace, out)), processKB };
}

/**
 * One cold `eslint <package>` process per package, a package started once the packages it declares
 * are done, as many at once as cores: what a task runner running each package's lint script does.
 */
export async function coldPerPackage(workspace: Workspace): Promise<ToolRun> {
  const outs = await mkdtemp(join(workspace.scratch, 'cold-'));
  const started = performance.now();
  const done = new Set<string>();
  const running = new Set<string>();
  const processKB: number[] = [];
  const files: FileReport[] = [];
  await new Promise<void>((resolve, reject) => {
    const next = () => {
      if (done.size === workspace.packages.length) return resolve();
      for (const pkg of workspace.packages) {
        if (running.size >= workspace.cores) return;
        if (done.has(pkg.dir) || running.has(pkg.dir) || !pkg.deps.every((dep) => done.has(dep))) continue;
        running.add(pkg.dir);
        const out = join(outs, `${pkg.dir.replace(/\//g, '_')}.json`);
        const args = [eslintBin(workspace.root), '--format', 'json', '--output-file', out, pkg.dir];
        node(workspace, args)
          .then(async (kb) => {
            processKB.push(...kb);
            files.push(...(await eslintJson(workspace, out)));
            running.delete(pkg.dir);
            done.add(pkg.dir);
            next();
          })
          .catch(reject);
      }
    };
    next();
  });
  const ms = performance.now() - started;
  return { ms, files: inPackages(sortFiles(files)), processKB };
}

const sortFiles = (files: FileReport[]) =>
  files.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));

const LAGE_CONFIG = (worker: string, cores: number) => `// Written by troupe's workload bench.
module.exports = {
  npmClient: 'npm',
  concurrency: ${cores},
  pipeline: {
    lint: { type: 'worker', dependsOn: ['^lint'], options: { worker: ${JSON.stringify(worker)} } },
  },
};
`;

/**
 * What Lage needs of a repo beyond workspaces: its config, a lock file (how it tells the package
 * manager) and a git repository with a commit (it hashes inputs with git, even with --no-cache).
 */
export async function prepareLage(workspace: Workspace): Promise<void> {
  await writeFile(join(workspace.root, 'lage.config.cjs'), LAGE_CONFIG(lageWorker, workspace.cores));
  await writeFile(
    join(workspace.root, 'package-lock.json'),
    `${JSON.stringify({ name: 'acme-monorepo', lockfileVersion: 3, requires: true, packages: {} })}\n`,
  );
  const git = (...args: string[]) =>
    run('git', ['-c', 'user.name=bench', '-c', 'user.email=bench@localhost', ...args], {
      cwd: workspace.root,
    });
  await git('init', '--quiet');
  await git('add', '--all');
  await git('commit', '--quiet', '--message', 'generated');
}

/** Lage's worker runner: `lage lint --no-cache`, packages in dependency order on a warm pool. */
export async function lage(workspace: Workspace): Promise<ToolRun> {
  const outs = await mkdtemp(join(workspace.scratch, 'lage-'));
  const bin = join(createRequire(import.meta.url).resolve('lage/package.json'), '../dist/lage.js');
  const started = performance.now();
  const processKB = await node(
    workspace,
    [bin, 'lint', '--no-cache', '--concurrency', String(workspace.cores)],
    {
      LINT_ROOT: workspace.root,
      LINT_OUT: outs,
    },
  );
  const ms = performance.now() - started;
  const files: FileReport[] = [];
  for (const name of await readdir(outs)) files.push(...(await eslintJson(workspace, join(outs, name))));
  if ((await readdir(outs)).length !== workspace.packages.length)
    throw new Error(`lage linted ${(await readdir(outs)).length} of ${workspace.packages.length} packages`);
  return { ms, files: inPackages(sortFiles(files)), processKB };
}

/** troupe: one request per package on process nodes, fresh (`reuse` false) or reused and cached. */
export async function troupe(workspace: Workspace, reuse: boolean): Promise<ToolRun> {
  const summary = await lintMonorepo({
    repo: workspace.root,
    nodes: workspace.cores,
    reuse,
    // A round on a busy machine can outlast the default 15 idle minutes, after which the nodes the
    // reused rows are about would have exited; the suite shuts its nodes down itself at the end.
    process: { transport: workspace.transport, idleTimeoutMs: 4 * 60 * 60_000 },
  });
  const files = sortFiles(summary.packages.flatMap((pkg) => pkg.files));
  return {
    ms: summary.ms,
    files: inPackages(files),
    processKB: Object.values(summary.nodeMaxRssKB),
    troupe: { cached: summary.cachedPackages, pids: summary.pids },
  };
}

export async function scratchFolder(root: string): Promise<string> {
  await mkdir(root, { recursive: true });
  return mkdtemp(join(root, 'workload-'));
}
