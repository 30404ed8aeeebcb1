// The real implementation behind the endpoint's injected `children` option (TaskChildren): it
// patches ChildProcess, signals process trees (process.kill) and waits on the host's own timers,
// so it is given only to process nodes by their entry (main.ts); in-process, thread and
// simulated nodes run without it.
import { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { isPidAlive } from '../system/launcher.js';

/**
 * The processes a node's tasks and jobs start, by the request (or job) that started them, so that
 * a cancelled request's compiler, or a finished job's `sleep`, does not outlive it: the task gets
 * a grace to stop them itself, then they get SIGINT (what a terminal's Ctrl-C sends), SIGTERM, and
 * at last their whole trees are killed (DESIGN.md: cancellation must reach grandchildren; MSBuild's
 * ToolTask kills the tool's tree on cancel).
 */
export interface TaskChildren {
  /**
   * The work the node runs from now on: processes started while `owner` is active belong to it,
   * and to none while nothing is (`undefined`). A node runs one request (or its one job) at a
   * time, and a request that waits (in ctx.build, or yielded) starts nothing until it is active
   * again, so the active one is the one that starts a process. The node tells its tracker at each
   * change rather than the tracker following each task's async context (AsyncLocalStorage):
   * on Node 20 that turns on promise hooks for the whole process, and every `await` of every task
   * on the node, users' own code included, costs about three times as much.
   */
  activate(owner: string | undefined): void;
  /**
   * Ends `owner`'s processes that still run: after `graceMs` (the owner's chance to stop them),
   * SIGINT, then SIGTERM, then SIGKILL to their trees, each step only for what is left. Resolves
   * when they are gone or, after the kill, given up on.
   */
  end(owner: string, graceMs: number): Promise<void>;
  /** Forgets `owner`: its processes are its own business from now on (it finished normally). */
  forget(owner: string): void;
  /** Every `end` still under way. */
  settled(): Promise<void>;
  /**
   * Ends the processes of every owner still tracked (`end` for each), for a node that is going
   * away: a job or task that ignored its cancel never reaches its own `end`.
   */
  endAll(graceMs: number): Promise<void>;
}

export interface TaskChildrenTimeouts {
  /** How long each signal has before the next one. Default 500 ms. */
  stepMs?: number;
  /** How often to look whether the processes are gone. Default 20 ms. */
  pollMs?: number;
}

/** The work active on this node (`TaskChildren.activate`): it owns the processes started now. */
let active: string | undefined;
const byOwner = new Map<string, Set<ChildProcess>>();
let installed = false;

/**
 * Every process started through `node:child_process` (spawn, exec, execFile, fork all go through
 * `ChildProcess.prototype.spawn`) is recorded under the work active when it started.
 * `spawnSync` and friends block the node until their process ends, so there is nothing to track.
 */
function install(): void {
  if (installed) return;
  installed = true;
  // Not in the type declarations, but the method every child_process function calls.
  const prototype = ChildProcess.prototype as unknown as { spawn: (...args: unknown[]) => unknown };
  const original = prototype.spawn;
  prototype.spawn = function spawn(this: ChildProcess, ...args: unknown[]) {
    const result = original.apply(this, args);
    const set = active === undefined ? undefined : byOwner.get(active);
    if (set && this.pid !== undefined) {
      set.add(this);
      this.once('exit', () => set.delete(this));
    }
    return result;
  };
}

function running(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Descendants of `roots` (Linux: from /proc; elsewhere none are known but the roots themselves). */
function descendants(roots: Iterable<number>): number[] {
  const parents = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  for (const entry of entries) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // "pid (comm) S ppid ...": comm may hold spaces and parentheses; fields follow the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const children = parents.get(ppid);
      if (children) children.push(pid);
      else parents.set(ppid, [pid]);
    } catch {
      // Gone meanwhile.
    }
  }
  const found: number[] = [];
  const queue = [...roots];
  while (queue.length > 0) {
    for (const child of parents.get(queue.shift()!) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Gone meanwhile.
  }
}

/** The real tracker of a process node (in-process and thread nodes run in the host and track nothing). */
export function processChildren(timeouts: TaskChildrenTimeouts = {}): TaskChildren {
  install();
  const stepMs = timeouts.stepMs ?? 500;
  const pollMs = timeouts.pollMs ?? 20;
  const ending = new Set<Promise<void>>();
  const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
  /** Waits up to `ms` for `done`; says whether it came. */
  const waitFor = async (done: () => boolean, ms: number) => {
    for (let waited = 0; !done(); waited += pollMs) {
      if (waited >= ms) return false;
      await sleep(pollMs);
    }
    return true;
  };

  async function endOwner(owner: string, graceMs: number): Promise<void> {
    const children = byOwner.get(owner);
    if (!children) return;
    // Every pid of the trees seen so far: a child that dies of SIGINT leaves its own children
    // re-parented, out of reach of a later look at the tree, so they are remembered.
    const seen = new Set<number>();
    const alive = () => {
      for (const child of children) if (running(child)) seen.add(child.pid!);
      for (const pid of seen) if (!isPidAlive(pid)) seen.delete(pid);
      return [...seen];
    };
    const trees = () => {
      const roots = alive();
      // Most requests start nothing: no look through /proc for them.
      if (roots.length === 0) return roots;
      for (const pid of descendants(roots)) seen.add(pid);
      return alive();
    };
    const gone = () => alive().length === 0;
    trees();
    try {
      if (await waitFor(gone, graceMs)) return;
      for (const name of ['SIGINT', 'SIGTERM', 'SIGKILL'] as const) {
        for (const pid of trees()) signal(pid, name);
        if (await waitFor(gone, stepMs)) return;
      }
    } finally {
      byOwner.delete(owner);
    }
  }

  return {
    activate(owner) {
      active = owner;
      if (owner !== undefined && !byOwner.has(owner)) byOwner.set(owner, new Set());
    },
    end(owner, graceMs) {
      const done = endOwner(owner, graceMs);
      ending.add(done);
      void done.finally(() => ending.delete(done));
      return done;
    },
    forget(owner) {
      byOwner.delete(owner);
    },
    async settled() {
      while (ending.size > 0) await Promise.all(ending);
    },
    async endAll(graceMs) {
      await Promise.all([...byOwner.keys()].map((owner) => this.end(owner, graceMs)));
      await this.settled();
    },
  };
}
