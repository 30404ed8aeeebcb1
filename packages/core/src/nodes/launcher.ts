import { spawn, spawnSync } from 'node:child_process';
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { threadId } from 'node:worker_threads';
import type { NodeExit } from '../errors.js';

export interface LaunchSpec {
  command: string;
  args: readonly string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * The node's stdout and stderr go to this file, never to the host's own stdio: a reusable
   * node that held its parent's pipes would keep `troupe ... | tee` waiting until the node's
   * idle timeout (MSBuild's dotnet/msbuild#3091). The host reads its tail when the node fails.
   */
  outputFile: string;
}

/** Which process and thread a node runs in, as it tells its host (NodeReady, `troupe:ping`). */
export interface NodeIdentity {
  readonly pid: number;
  readonly threadId: number;
}

/** This process and thread: the identity of a real node. A simulated node is given its own. */
export function systemIdentity(): NodeIdentity {
  return { pid: process.pid, threadId };
}

/** A running (or finished) node process, as the host sees it. */
export interface NodeProcess {
  readonly pid: number;
  /** How it ended, once it has; undefined while it runs (or when that cannot be known). */
  exit(): NodeExit | undefined;
  isAlive(): boolean;
  /** Called once when the process exits (immediately if it already has). */
  onExit(listener: (exit: NodeExit) => void): void;
  /** The last few KiB of what it wrote to stdout and stderr. */
  outputTail(bytes?: number): string;
  /** Kills the node and everything it started (its process group / job tree). */
  killTree(): void;
}

export interface Launcher {
  launch(spec: LaunchSpec): NodeProcess;
  /** A view of a process this host did not start (a reused node), by pid. */
  attach(pid: number, outputFile?: string): NodeProcess;
}

function readTail(file: string | undefined, bytes: number): string {
  if (!file) return '';
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const size = fstatSync(fd).size;
    const length = Math.min(size, bytes);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    return buffer.toString('utf8');
  } catch {
    return '';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Whether `pid` is a process that has not ended. A zombie has ended: it only waits for its parent
 * to collect its exit status, and a node whose host is gone is an orphan that only PID 1 collects,
 * late (a second or two) or, in a container whose PID 1 does not reap, never. Counting zombies as
 * alive made `troupe nodes shutdown` wait on nodes that had already exited, and list dead ones.
 */
export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it exists but belongs to someone else; it is alive, and not ours to reuse anyway.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !isZombie(pid);
}

function isZombie(pid: number): boolean {
  if (process.platform !== 'linux') return false;
  try {
    // "pid (comm) S ...": comm may hold spaces and parentheses; the state follows the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.charAt(stat.lastIndexOf(')') + 2) === 'Z';
  } catch {
    return false;
  }
}

function killProcessTree(pid: number): void {
  if (process.platform === 'win32') {
    spawnSync('taskkill', ['/pid', String(pid), '/T', '/F'], { stdio: 'ignore', windowsHide: true });
    return;
  }
  // Nodes are started as process-group leaders, so the group is the node and everything it
  // spawned that did not detach itself. Killing the group reaches grandchildren (agent#1757).
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/** The real launcher: `child_process.spawn`, each node the leader of its own process group. */
export const processLauncher: Launcher = {
  launch(spec) {
    const fd = openSync(spec.outputFile, 'a', 0o600);
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(spec.command, [...spec.args], {
        cwd: spec.cwd,
        env: spec.env,
        detached: process.platform !== 'win32',
        stdio: ['ignore', fd, fd],
        windowsHide: true,
      });
    } finally {
      closeSync(fd);
    }
    let exit: NodeExit | undefined;
    const listeners: Array<(exit: NodeExit) => void> = [];
    let spawnError: Error | undefined;
    child.on('error', (error) => {
      spawnError = error;
    });
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      for (const listener of listeners.splice(0)) listener(exit);
    });
    // The host must be able to exit while a reusable node lives on.
    child.unref();
    const pid = child.pid ?? -1;
    return {
      pid,
      exit: () => exit ?? (spawnError ? { code: null, signal: null } : undefined),
      isAlive: () => exit === undefined && spawnError === undefined && pid > 0,
      onExit(listener) {
        if (exit) listener(exit);
        else listeners.push(listener);
      },
      outputTail: (bytes = 4096) =>
        spawnError
          ? `${spawnError.message}\n${readTail(spec.outputFile, bytes)}`
          : readTail(spec.outputFile, bytes),
      killTree: () => {
        if (pid > 0 && exit === undefined) killProcessTree(pid);
      },
    };
  },

  attach(pid, outputFile) {
    return {
      pid,
      exit: () => (isPidAlive(pid) ? undefined : { code: null, signal: null }),
      isAlive: () => isPidAlive(pid),
      onExit: () => {
        // Not our child: its exit is only seen by polling (isAlive) or through its link closing.
      },
      outputTail: (bytes = 4096) => readTail(outputFile, bytes),
      killTree: () => {
        if (isPidAlive(pid)) killProcessTree(pid);
      },
    };
  },
};
