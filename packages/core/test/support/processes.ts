// Helpers for tests that start real processes: a private socket directory per test, a record of
// every process the test caused, process-table checks, and a cleanup that kills what is left.
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isPidAlive, type Launcher, processLauncher } from '@troupe/core/internal';
import { PipeTransport } from '@troupe/transport';

/** The state letter of a process in /proc (R, S, T, Z...), or undefined where there is no /proc entry. */
export function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) S ...": comm may hold spaces and parentheses, so read after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/**
 * Whether `pid` is in the process table as a process that has not ended. A zombie has ended: it
 * only waits for its parent (or PID 1, for an orphan) to collect its exit status.
 */
export function isRunning(pid: number): boolean {
  return isPidAlive(pid) && processState(pid) !== 'Z';
}

/** Polls the process table (bounded, 10 s by default) until `pid` has ended. */
export async function waitUntilGone(pid: number, timeoutMs = 10_000): Promise<boolean> {
  return waitFor(() => !isRunning(pid), timeoutMs);
}

/** Polls `condition` every 10 ms until it holds or `timeoutMs` passes; says whether it held. */
export async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}

/**
 * Live processes whose environment names `directory` as their TROUPE_SOCKET_DIR: every node a
 * provider launched into it (launchers set that variable), their children (who inherit it), and
 * `troupe` commands the tests started with it. Linux only (/proc); elsewhere an empty list.
 */
export function processesUsing(directory: string): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const marker = `TROUPE_SOCKET_DIR=${directory}`;
  const found: number[] = [];
  for (const entry of entries) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      if (environ.includes(marker) && isRunning(pid)) found.push(pid);
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return found.sort((a, b) => a - b);
}

export interface Sandbox {
  /** A fresh private socket directory: node sockets, registry records and output files go here. */
  readonly directory: string;
  readonly transport: PipeTransport;
  /** Every pid the test saw; `cleanup` kills those still running. */
  readonly pids: Set<number>;
  /** The real launcher, recording every process it starts in `pids` and `launched`. */
  readonly launcher: Launcher;
  /** Pids of the node processes `launcher` started, in order. */
  readonly launched: number[];
  /** Environment for `troupe` commands started by the test: the sandbox's socket directory. */
  readonly env: NodeJS.ProcessEnv;
}

export async function createSandbox(): Promise<Sandbox> {
  const directory = await mkdtemp(join(tmpdir(), 'troupe-test-'));
  const pids = new Set<number>();
  const launched: number[] = [];
  return {
    directory,
    transport: new PipeTransport({ directory }),
    pids,
    launched,
    launcher: {
      launch(spec) {
        const node = processLauncher.launch(spec);
        if (node.pid > 0) {
          pids.add(node.pid);
          launched.push(node.pid);
        }
        return node;
      },
      attach: (pid, outputFile) => {
        pids.add(pid);
        return processLauncher.attach(pid, outputFile);
      },
    },
    env: { ...process.env, TROUPE_SOCKET_DIR: directory },
  };
}

/**
 * Kills (SIGKILL: its process group, then itself) every recorded process still running and every
 * process still using the sandbox's directory, waits until they are gone, and removes the
 * directory. Safe to call after a failed test: it never throws for what is already gone.
 */
export async function cleanupSandbox(sandbox: Sandbox): Promise<void> {
  const targets = new Set([...sandbox.pids].filter(isRunning));
  for (const pid of processesUsing(sandbox.directory)) targets.add(pid);
  for (const pid of targets) {
    for (const target of [-pid, pid]) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        // No such process group, or already gone.
      }
    }
  }
  await Promise.all([...targets].map((pid) => waitUntilGone(pid)));
  sandbox.pids.clear();
  await rm(sandbox.directory, { recursive: true, force: true });
}
