import { execFile, spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { alternate, type Row, row, type SuiteOptions } from '../measure.js';

/**
 * Time to a first result (issue 13): a user's script creates a runtime and builds one trivial
 * task from a module of its own that imports @troupe/core (for defineTask), on one fresh node.
 * Measured from `createRuntime` to the result, in a fresh process each time, against `node -e 0`
 * started in the same run, and against the floor: a bare worker_thread or process that imports the
 * same task module and runs it, with no runtime (floor.mjs). `start` runs the workspace's
 * packages; `start-packed` (only by name, `--suite start-packed`: it packs and installs, some
 * seconds) installs the packed tarballs into an empty project outside the monorepo first, as a
 * user would have them.
 */

const run = promisify(execFile);
const scripts = new URL('../../workers/first-result/', import.meta.url);
const repository = fileURLToPath(new URL('../../../', import.meta.url));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** Milliseconds to start `node -e 0` and wait for it to exit. */
function nodeE0(): Promise<number> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', () => resolve(performance.now() - start));
  });
}

/** What `script` in `directory` prints: ms to the first result. */
async function printedMs(directory: string, script: string, kind: 'thread' | 'process'): Promise<number> {
  const { stdout } = await run(process.execPath, [join(directory, script), kind], { cwd: directory });
  const ms = Number(stdout.trim().split('\n').at(-1));
  if (!Number.isFinite(ms)) throw new Error(`${script} printed ${JSON.stringify(stdout)}`);
  return ms;
}

/** What `host.mjs` in `directory` prints: ms from createRuntime to the first result. */
function firstResult(directory: string, kind: 'thread' | 'process'): Promise<number> {
  return printedMs(directory, 'host.mjs', kind);
}

/**
 * The floor (`floor.mjs`): ms from starting a bare worker_thread or `node` process that imports
 * the same task module (so @troupe/core too), runs it and hands back its result, no runtime.
 */
function bareResult(directory: string, kind: 'thread' | 'process'): Promise<number> {
  return printedMs(directory, 'floor.mjs', kind);
}

async function measure(suite: string, directory: string, what: string, quick: boolean): Promise<Row[]> {
  const rounds = quick ? 1 : 9;
  // Warm the file cache so neither side pays for the first read of node's binary or of troupe.
  await nodeE0();
  await firstResult(directory, 'thread');
  await firstResult(directory, 'process');
  await bareResult(directory, 'thread');
  await bareResult(directory, 'process');
  const thread = await alternate(rounds, nodeE0, () => firstResult(directory, 'thread'));
  const processNode = await alternate(rounds, nodeE0, () => firstResult(directory, 'process'));
  const threadFloor = await alternate(
    rounds,
    () => bareResult(directory, 'thread'),
    () => firstResult(directory, 'thread'),
  );
  const processFloor = await alternate(
    rounds,
    () => bareResult(directory, 'process'),
    () => firstResult(directory, 'process'),
  );
  return [
    row(
      suite,
      `createRuntime → first result, task module importing @troupe/core, 1 thread node (${what}) vs node -e 0`,
      'ms',
      thread,
      'value <= 60 ms',
    ),
    row(
      suite,
      `createRuntime → first result, task module importing @troupe/core, 1 process node (${what}) vs node -e 0`,
      'ms',
      processNode,
      '<= 1.5',
    ),
    row(
      suite,
      'the thread row vs a bare worker_thread that imports the same task module (the floor here)',
      'ms',
      threadFloor,
    ),
    row(
      suite,
      'the process row vs a bare `node` process that imports the same task module (the floor here)',
      'ms',
      processFloor,
    ),
  ];
}

export async function startSuite({ quick }: SuiteOptions): Promise<Row[]> {
  return measure('start', fileURLToPath(scripts), 'workspace packages', quick);
}

/**
 * Packs @troupe/transport and @troupe/core (as built) and installs the tarballs into an empty
 * project: from npm's cache alone if it can (`--offline`), else letting npm fetch the few
 * dependencies it lacks (`--prefer-offline`).
 */
async function packedProject(directory: string): Promise<string> {
  const tarballs = join(directory, 'tarballs');
  const project = join(directory, 'project');
  await mkdir(tarballs);
  await mkdir(project);
  await run(
    npm,
    ['pack', '-w', 'packages/transport', '-w', 'packages/core', '--pack-destination', tarballs, '--silent'],
    { cwd: repository },
  );
  const files = (await readdir(tarballs))
    .filter((name) => name.endsWith('.tgz'))
    .map((name) => join(tarballs, name));
  await writeFile(join(project, 'package.json'), '{ "private": true, "type": "module" }\n');
  const install = (mode: string) =>
    run(npm, ['install', mode, '--no-audit', '--no-fund', '--ignore-scripts', ...files], { cwd: project });
  try {
    await install('--offline');
  } catch {
    await install('--prefer-offline');
  }
  for (const name of ['host.mjs', 'task.mjs', 'floor.mjs', 'floor-node.mjs'])
    await copyFile(new URL(name, scripts), join(project, name));
  return project;
}

export async function startPackedSuite({ quick }: SuiteOptions): Promise<Row[]> {
  const directory = await mkdtemp(join(tmpdir(), 'troupe-bench-packed-'));
  try {
    const project = await packedProject(directory);
    return await measure('start-packed', project, 'packed packages in an empty project', quick);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}
