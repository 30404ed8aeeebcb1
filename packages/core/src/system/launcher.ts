// The real Launcher (child_process, process groups, kill trees), the host's real process
// identity (pid, thread, entry script) and the machine's parallelism: the one module where the
// host starts and signals processes. Providers take a Launcher.
import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  createWriteStream,
  fstatSync,
  openSync,
  readFileSync,
  readSync,
  realpathSync,
} from 'node:fs';
import { availableParallelism } from 'node:os';
import { createInterface } from 'node:readline';
import { isMainThread, threadId } from 'node:worker_threads';
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
  /**
   * Written to the process's stdin, which then stays open until `NodeProcess.endInput` (or the
   * host's exit) closes it: how a launcher prefix (ssh, `kubectl exec -i`) carries a secret to a
   * remote node without argv, and how its session holds the node. Without it stdin is /dev/null.
   */
  input?: string;
  /**
   * Hears each line the process writes to stdout (the lines still go to `outputFile` too): the
   * listening line of a node the host cannot find by its pid (a remote node). Without it stdout
   * goes straight to the file.
   */
  onOutputLine?: (line: string) => void;
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

/** How many things this machine runs at once (`os.availableParallelism`): a runtime's default pool size. */
export function systemParallelism(): number {
  return availableParallelism();
}

/** The host's entry script as a real path, looked up once; null where there is none (a worker thread). */
let entryScript: string | null | undefined;

/**
 * Whether `path` is the host's own entry script (after symlinks). A task defined there cannot
 * run on a node: importing it would run the host's program again. False on a worker thread and
 * where the host has no script file (-e, stdin).
 */
export function isHostEntryScript(path: string): boolean {
  if (entryScript === undefined) {
    entryScript = null;
    const script = process.argv[1];
    if (isMainThread && script) {
      try {
        entryScript = realpathSync(script);
      } catch {
        // Not a file (-e, stdin): no task can live in it under a file name anyway.
      }
    }
  }
  if (entryScript === null) return false;
  try {
    return realpathSync(path) === entryScript;
  } catch {
    // A file that is not there is the node's to report.
    return path === entryScript;
  }
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
  /** Closes its stdin when it was launched with `input`: a node started with --secret-stdin ends. */
  endInput?(): void;
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

/**
 * The variable that tells a launched node which of its file descriptors is a pipe from its host,
 * held open for as long as the host lives: end of file on it means the host is gone (killed,
 * crashed, or exited), which a node still waiting for that host, or not reusable, takes as its cue
 * to exit at once. Not stdin: a task's child that inherits stdin and reads it would wait for the
 * host to die, where /dev/null gives it end of file at once.
 */
export const PARENT_PIPE_ENV = 'TROUPE_PARENT_PIPE';

/** The descriptor the parent pipe is on, in a launched node. */
const PARENT_PIPE_FD = 3;

/**
 * The node's output file, for the node to remove when it outlives its host: a host that keeps the
 * file to read after the node exits (a job worker's crash output) cannot remove it once it is gone.
 */
export const OUTPUT_FILE_ENV = 'TROUPE_OUTPUT_FILE';

/** Whether any process is left in process group `pgid`. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * After a node (a group leader) has exited, what its tasks and jobs started and left behind in its
 * group gets SIGINT, SIGTERM, then SIGKILL, a step apart, stopping as soon as the group is empty.
 * The node ends what it tracked itself; this is for what it could not (it was killed, or a task
 * used a process it did not see start).
 */
function endGroup(pgid: number, stepMs = 250): void {
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGKILL'];
  const step = () => {
    const signal = signals.shift();
    if (!signal || !groupAlive(pgid)) return;
    try {
      process.kill(-pgid, signal);
    } catch {
      return;
    }
    setTimeout(step, stepMs).unref();
  };
  step();
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
        detached: process.platform !== 'win32',
        env: {
          ...(spec.env ?? process.env),
          [PARENT_PIPE_ENV]: String(PARENT_PIPE_FD),
          [OUTPUT_FILE_ENV]: spec.outputFile,
        },
        stdio: [spec.input === undefined ? 'ignore' : 'pipe', spec.onOutputLine ? 'pipe' : fd, fd, 'pipe'],
        windowsHide: true,
      });
    } finally {
      closeSync(fd);
    }
    if (spec.input !== undefined && child.stdin) {
      child.stdin.on('error', () => {});
      child.stdin.write(spec.input);
      (child.stdin as unknown as { unref?: () => void }).unref?.();
    }
    if (spec.onOutputLine && child.stdout) {
      // Copied to the output file as well, so the node's tail tells the whole story on failure.
      const copy = createWriteStream(spec.outputFile, { flags: 'a', mode: 0o600 });
      copy.on('error', () => {});
      child.stdout.pipe(copy);
      const onLine = spec.onOutputLine;
      createInterface({ input: child.stdout, crlfDelay: Number.POSITIVE_INFINITY }).on('line', onLine);
      (child.stdout as unknown as { unref?: () => void }).unref?.();
    }
    let exit: NodeExit | undefined;
    const listeners: Array<(exit: NodeExit) => void> = [];
    let spawnError: Error | undefined;
    child.on('error', (error) => {
      spawnError = error;
      // A command that could not be started never exits: its listeners hear of it now.
      if (child.pid === undefined && exit === undefined)
        for (const listener of listeners.splice(0)) listener({ code: null, signal: null });
    });
    // Never written to: only its closing, when this process ends, means anything to the node.
    const parentPipe = child.stdio[PARENT_PIPE_FD];
    parentPipe?.on('error', () => {});
    (parentPipe as { unref?: () => void } | null | undefined)?.unref?.();
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      if (pid > 0 && process.platform !== 'win32') endGroup(pid);
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
      endInput: () => {
        child.stdin?.end();
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
