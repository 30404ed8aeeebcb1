import { threadId } from 'node:worker_threads';

export interface TaskContext {
  readonly requestId: string;
  readonly signal: AbortSignal;
  log(message: string, level?: 'debug' | 'info' | 'warn' | 'error'): void;
}

export type TaskFunction = (input: unknown, ctx: TaskContext) => unknown;

const builtins: Record<string, TaskFunction> = {
  /** Answers with where it ran: the cheapest proof that a node is alive and serving. */
  'troupe:ping': () => ({ pid: process.pid, threadId }),
};

/**
 * Finds the code for a task id: a built-in (`troupe:ping`) or `moduleSpecifier#exportName`, where
 * the export is a function `(input, ctx)` or an object with such a `run` method. Modules are
 * imported once per node and kept across builds (like MSBuild keeps loaded task assemblies).
 */
export class TaskResolver {
  readonly #modules = new Map<string, Promise<Record<string, unknown>>>();

  async resolve(task: string): Promise<TaskFunction> {
    const builtin = builtins[task];
    if (builtin) return builtin;
    const hash = task.lastIndexOf('#');
    const specifier = hash > 0 ? task.slice(0, hash) : task;
    const name = hash > 0 ? task.slice(hash + 1) : 'default';
    let loading = this.#modules.get(specifier);
    if (!loading) {
      loading = import(specifier) as Promise<Record<string, unknown>>;
      this.#modules.set(specifier, loading);
      loading.catch(() => this.#modules.delete(specifier));
    }
    const exported = (await loading)[name];
    if (typeof exported === 'function') return exported as TaskFunction;
    if (exported && typeof (exported as { run?: unknown }).run === 'function') {
      const run = (exported as { run: TaskFunction }).run;
      return (input, ctx) => run.call(exported, input, ctx);
    }
    throw new TypeError(`${specifier} has no task export named ${JSON.stringify(name)}`);
  }
}
