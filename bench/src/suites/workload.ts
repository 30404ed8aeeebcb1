// A real workload (issue 17): type-aware ESLint over a generated TypeScript monorepo, linted by the
// tools people use today and by troupe, on the same repo in the same run, in alternating rounds.
// Every tool's messages must equal `eslint .`'s, or the suite fails: a fast wrong answer is no row.

import { rm, rmdir } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { shutdownAll } from '@troupe/core';
import { readRepo } from '@troupe/example-lint-monorepo';
import { generateRepo } from '@troupe/example-lint-monorepo/generate';
import { PipeTransport } from '@troupe/transport';
import { median, type Row, type SuiteOptions } from '../measure.js';
import {
  coldPerPackage,
  eslintCli,
  lage,
  prepareLage,
  scratchFolder,
  type ToolRun,
  troupe,
  type Workspace,
} from './workload-tools.js';

export interface WorkloadOptions {
  packages: number;
  /** Lines of TypeScript per package, roughly. */
  lines: number;
  seed: number;
  rounds: number;
  /** Processes (or threads) each parallel tool may use: process nodes, Lage's pool, cold processes. */
  cores: number;
  /** Told of each run as it ends (the suite prints these to stderr: a full run takes minutes). */
  onRun?: (tool: ToolName, run: ToolRun, round: number) => void;
}

export const TOOLS = {
  eslint: '`eslint .` (1 process)',
  eslintAuto: '`eslint --concurrency auto`',
  cold: 'cold `eslint` per package, deps first',
  lage: 'Lage worker runner (warm ESLint pool)',
  troupeFresh: 'troupe fresh nodes',
  troupeReused: 'troupe reused nodes, no changes',
} as const;
export type ToolName = keyof typeof TOOLS;

export interface ToolFigures {
  /** Median over the rounds. */
  ms: number;
  /** Each round's time. */
  rounds: number[];
  /** The largest peak RSS of any one of its Node processes, in kB, over the rounds. */
  peakKB: number;
  /** Its results in the last round (files under packages/, path order). */
  files: ToolRun['files'];
}

export interface Comparison {
  tools: Partial<Record<ToolName, ToolFigures>>;
  /** Why Lage's row is missing, when it is. */
  lageMissing?: string;
  /** Packages the last reused troupe run took from its results cache. */
  reusedCached: number;
  /** Whether every reused troupe run ran on the nodes the run before it left idle (none new). */
  reusedNodes: boolean;
  files: number;
  lines: number;
}

/** Generates the repo, runs every tool `rounds` times alternately, checks every result; cleans up. */
export async function compareTools(options: WorkloadOptions): Promise<Comparison> {
  const scratch = await scratchFolder(join(tmpdir(), 'troupe-bench'));
  const transport = new PipeTransport({ directory: join(scratch, 'nodes') });
  /** Every troupe node the runs used: none may outlive the comparison. */
  const nodePids = new Set<number>();
  const troupeRun = async (reuse: boolean): Promise<ToolRun> => {
    const run = await troupe(workspace, reuse);
    for (const pid of run.troupe?.pids ?? []) nodePids.add(pid);
    return run;
  };
  let workspace!: Workspace;
  try {
    const root = join(scratch, 'repo');
    const made = await generateRepo(root, options);
    const view = await readRepo(root);
    workspace = { root, packages: view.packages, scratch, transport, cores: options.cores };
    let lageMissing: string | undefined;
    try {
      await prepareLage(workspace);
    } catch (error) {
      lageMissing = `Lage could not be set up: ${(error as Error).message}`;
    }
    const runs: Record<ToolName, () => Promise<ToolRun>> = {
      eslint: () => eslintCli(workspace, 'off'),
      eslintAuto: () => eslintCli(workspace, 'auto'),
      cold: () => coldPerPackage(workspace),
      lage: () => lage(workspace),
      troupeFresh: () => troupeRun(false),
      troupeReused: () => troupeRun(true),
    };
    // The reused rows measure a second run: the first fills the nodes' state and results cache.
    let reusePids = (await troupeRun(true)).troupe?.pids ?? [];
    let reusedNodes = true;
    const seen = new Map<ToolName, ToolRun[]>();
    let reusedCached = 0;
    for (let round = 0; round < options.rounds; round++) {
      for (const tool of Object.keys(TOOLS) as ToolName[]) {
        if (tool === 'lage' && lageMissing !== undefined) continue;
        let run: ToolRun;
        try {
          run = await runs[tool]();
        } catch (error) {
          if (tool !== 'lage') throw error;
          lageMissing = `Lage did not run here: ${(error as Error).message.slice(0, 300)}`;
          continue;
        }
        if (tool === 'troupeReused' && run.troupe) {
          const { pids, cached } = run.troupe;
          reusedNodes &&= pids.every((pid) => reusePids.includes(pid));
          reusePids = pids;
          reusedCached = cached;
        }
        seen.set(tool, [...(seen.get(tool) ?? []), run]);
        options.onRun?.(tool, run, round);
      }
    }
    const reference = seen.get('eslint')!.at(-1)!.files;
    const tools: Comparison['tools'] = {};
    for (const [tool, done] of seen) {
      for (const run of done)
        if (!isDeepStrictEqual(run.files, reference))
          throw new Error(`${TOOLS[tool]} did not report what \`eslint .\` reports on the same files`);
      tools[tool] = {
        ms: median(done.map((run) => run.ms)),
        rounds: done.map((run) => run.ms),
        peakKB: Math.max(...done.flatMap((run) => run.processKB)),
        files: done.at(-1)!.files,
      };
    }
    return {
      tools,
      ...(lageMissing !== undefined && { lageMissing }),
      reusedCached,
      reusedNodes,
      files: reference.length,
      lines: made.lines,
    };
  } finally {
    await shutdownAll({ transport });
    // A node still between its last build and idle may refuse the request to exit as busy, and
    // reused nodes wait hours for a host: whatever is left is ended here, not left behind.
    await endProcesses([...nodePids]);
    await rm(scratch, { recursive: true, force: true });
    // The shared parent too, once no other comparison's scratch is in it.
    await rmdir(dirname(scratch)).catch(() => undefined);
  }
}

/** SIGTERM to each process still alive, then SIGKILL to any that has not gone within 2 s. */
async function endProcesses(pids: readonly number[]): Promise<void> {
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const left = pids.filter(alive);
  for (const pid of left) process.kill(pid, 'SIGTERM');
  for (let waited = 0; waited < 2_000 && left.some(alive); waited += 50)
    await new Promise((resolve) => setTimeout(resolve, 50));
  for (const pid of left.filter(alive)) process.kill(pid, 'SIGKILL');
}

/** The goals of issue 17, by (other tool, troupe run). */
const GOALS: Partial<Record<`${ToolName}/${ToolName}`, string>> = {
  'eslintAuto/troupeFresh': '>= 1',
  'cold/troupeFresh': '>= 2',
  'eslintAuto/troupeReused': '>= 3',
};

/** Rows: each other tool's time ÷ troupe's (a speed-up), then peak memory per process ÷ troupe's. */
export function workloadRows(comparison: Comparison, options: WorkloadOptions): Row[] {
  const size = `${options.packages} packages, ${comparison.lines} lines, ${options.cores} cores`;
  const rows: Row[] = [];
  const others: ToolName[] = ['eslint', 'eslintAuto', 'cold', 'lage'];
  for (const mine of ['troupeFresh', 'troupeReused'] as const) {
    const ours = comparison.tools[mine]!;
    for (const other of others) {
      const name = `lint time: ${TOOLS[other]} ÷ ${TOOLS[mine]} (${size})`;
      const goal = GOALS[`${other}/${mine}`];
      const theirs = comparison.tools[other];
      if (theirs === undefined) {
        rows.push({
          suite: 'workload',
          name,
          unit: 'ms',
          value: NaN,
          baseline: NaN,
          ratio: NaN,
          pending: comparison.lageMissing ?? 'not run',
          ...(goal && { goal }),
        });
        continue;
      }
      rows.push({
        suite: 'workload',
        name,
        unit: 'ms',
        value: ours.ms,
        baseline: theirs.ms,
        ratio: theirs.ms / ours.ms,
        ...(goal && { goal }),
      });
    }
  }
  for (const [mine, against] of [
    ['troupeFresh', others],
    ['troupeReused', ['eslint']],
  ] as const) {
    const ours = comparison.tools[mine]!.peakKB / 1024;
    for (const other of against) {
      const theirs = comparison.tools[other];
      if (theirs === undefined) continue;
      const name = `peak RSS per process: ${TOOLS[other]} ÷ a node of ${TOOLS[mine]}`;
      rows.push({
        suite: 'workload',
        name,
        unit: 'MB',
        value: ours,
        baseline: theirs.peakKB / 1024,
        ratio: theirs.peakKB / 1024 / ours,
      });
    }
  }
  return rows;
}

export async function workloadSuite({ quick }: SuiteOptions): Promise<Row[]> {
  const options: WorkloadOptions = {
    packages: 40,
    lines: quick ? 150 : 400,
    seed: 1,
    rounds: quick ? 1 : 3,
    cores: availableParallelism(),
    onRun: (tool, run, round) =>
      process.stderr.write(
        `workload round ${round + 1}: ${TOOLS[tool]} ${run.ms.toFixed(0)} ms, ` +
          `peak RSS per process ${run.processKB.map((kb) => (kb / 1024).toFixed(0)).join(' ')} MB\n`,
      ),
  };
  return workloadRows(await compareTools(options), options);
}
