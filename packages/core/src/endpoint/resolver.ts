import { isBuiltin } from 'node:module';
import { TaskNotFoundError, TaskRefusedError } from '../errors.js';
import { isJob, type Job, type JobFunction } from '../jobs/define.js';
import { type NodeIdentity, systemIdentity } from '../system/launcher.js';
import { findExport, isTask, type Task } from '../tasks/define.js';
import type { TaskContext } from '../tasks/task.js';
import { TaskModules } from './modules.js';

export type { TaskContext };

/** A task's code; `restartable` when its definition says a run may be dropped and started again. */
export type TaskFunction = ((input: unknown, ctx: TaskContext) => unknown) & {
  readonly restartable?: boolean;
};

/**
 * Why a specifier is not loaded at all, or undefined when it may be. A node loads task modules
 * from files (`file:` URLs, paths) and packages; never a Node.js built-in (`node:child_process`
 * would hand its exports to whoever connects) nor code carried in the id itself (`data:`) or
 * fetched (`http:`).
 */
function refusedSpecifier(specifier: string): string | undefined {
  if (specifier.startsWith('node:') || isBuiltin(specifier))
    return `${specifier} is a Node.js built-in module, not a task module`;
  const scheme = /^([a-zA-Z][a-zA-Z\d+.-]+):/.exec(specifier)?.[1];
  if (scheme !== undefined && scheme.toLowerCase() !== 'file')
    return `${scheme}: modules are not loaded; a task module is a file URL, a path or a package`;
  return undefined;
}

function describeExport(value: unknown): string {
  if (typeof value === 'function') return 'a plain function';
  if (typeof value === 'object' && value !== null) return 'an object';
  return `a ${typeof value}`;
}

/**
 * Finds the code for a task id: a built-in (`troupe:ping`) or `moduleSpecifier#exportName`, where
 * the export is a task made with `defineTask` (a job id names a `defineJob` export), recognised by
 * its registered marker. Anything else is refused with a `TaskRefusedError` before it runs: a node
 * runs what it was built to run, not whatever export a client names. This is not a sandbox: a
 * module named is imported, its top-level code run, before its exports are looked at. Who may
 * name modules at all is decided by who can connect (the per-user pipe directory, a TCP secret).
 *
 * Modules are imported once per node and kept across builds (like MSBuild keeps loaded task
 * assemblies).
 */
export class TaskResolver {
  readonly #builtins: ReadonlyMap<string, TaskFunction>;
  readonly #modules = new TaskModules();
  /** Tasks already found, by id: a request for a known task starts without waiting a microtask. */
  readonly #found = new Map<string, TaskFunction>();

  /** `identity`: where `troupe:ping` says it ran; default this process and thread. */
  constructor(identity: NodeIdentity = systemIdentity()) {
    this.#builtins = new Map<string, TaskFunction>([
      // Answers with where it ran: the cheapest proof that a node is alive and serving.
      ['troupe:ping', () => ({ pid: identity.pid, threadId: identity.threadId })],
    ]);
  }

  /** The task's code if it was resolved before (or is a built-in); undefined otherwise. */
  cached(task: string): TaskFunction | undefined {
    return this.#builtins.get(task) ?? this.#found.get(task);
  }

  /** Why this node must not run its loaded modules any more (one's file changed); undefined if none did. */
  modulesChanged(): string | undefined {
    return this.#modules.changed();
  }

  async resolve(task: string): Promise<TaskFunction> {
    const known = this.cached(task);
    if (known) return known;
    const found = (await this.#find(task, 'task', isTask)) as Task;
    const run: TaskFunction = Object.assign((input: unknown, ctx: TaskContext) => found.run(input, ctx), {
      restartable: found.restartable === true,
    });
    this.#found.set(task, run);
    return run;
  }

  /** A job's code: the `defineJob` export a job id names. Not kept: a worker runs one job. */
  async resolveJob(job: string): Promise<JobFunction> {
    const found = (await this.#find(job, 'job', isJob)) as Job;
    return (message, ctx) => found.run(message, ctx);
  }

  /** The marked export an id names; refuses what is not one, or what it will not load. */
  async #find(
    task: string,
    kind: 'task' | 'job',
    marked: (value: unknown) => value is Task | Job,
  ): Promise<Task | Job> {
    const hash = task.lastIndexOf('#');
    const specifier = hash > 0 ? task.slice(0, hash) : task;
    const name = hash > 0 ? task.slice(hash + 1) : 'default';
    const refused = refusedSpecifier(specifier);
    if (refused) throw new TaskRefusedError(task, kind, refused);
    const module = await this.#modules.load(specifier);
    const exported = findExport<Task | Job>(module, name, marked);
    if (!exported) throw new TaskNotFoundError(task, kind, specifier, name);
    if ('other' in exported) {
      const maker = kind === 'task' ? 'defineTask' : 'defineJob';
      throw new TaskRefusedError(
        task,
        kind,
        `export ${JSON.stringify(name)} of ${specifier} is ${describeExport(exported.other)}, not a ${kind} made with ${maker}`,
      );
    }
    return exported.found;
  }
}
