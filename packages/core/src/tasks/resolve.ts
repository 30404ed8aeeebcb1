import { type NodeIdentity, systemIdentity } from '../nodes/launcher.js';
import type { TaskContext } from './context.js';
import { isTask } from './define.js';
import { TaskModules } from './modules.js';

export type { TaskContext };

export type TaskFunction = (input: unknown, ctx: TaskContext) => unknown;

/**
 * Finds the code for a task id: a built-in (`troupe:ping`) or `moduleSpecifier#exportName`, where
 * the export is a function `(input, ctx)` or an object with such a `run` method. Modules are
 * imported once per node and kept across builds (like MSBuild keeps loaded task assemblies).
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
    const found = await this.#find(task);
    this.#found.set(task, found);
    return found;
  }

  async #find(task: string): Promise<TaskFunction> {
    const hash = task.lastIndexOf('#');
    const specifier = hash > 0 ? task.slice(0, hash) : task;
    const name = hash > 0 ? task.slice(hash + 1) : 'default';
    const module = await this.#modules.load(specifier);
    // A task is found under its export name, or, failing that, as any exported task of that name.
    const exported =
      module[name] ?? Object.values(module).find((value) => isTask(value) && value.name === name);
    if (typeof exported === 'function') return exported as TaskFunction;
    if (exported && typeof (exported as { run?: unknown }).run === 'function') {
      const run = (exported as { run: TaskFunction }).run;
      return (input, ctx) => run.call(exported, input, ctx);
    }
    throw new TypeError(`${specifier} has no task export named ${JSON.stringify(name)}`);
  }
}
