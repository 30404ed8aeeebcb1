import { basename } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type RetryPolicy, retryProblem, timeoutProblem } from '../request-policy.js';
import { isHostEntryScript } from '../system/launcher.js';
import { kMultiThreadable, kTask, type Task, type TaskDefinition } from './task.js';

export type { Task, TaskDefinition } from './task.js';

/**
 * Defines a task in a module nodes can load. Export it under its `name`:
 *
 *     export const compile = defineTask({ name: 'compile', async run(input, ctx) { ... } });
 */
export function defineTask<I, O>(definition: TaskDefinition<I, O>): Task<I, O> {
  const module =
    definition.module === undefined
      ? callerModule('defineTask', defineTask)
      : isRelative(definition.module)
        ? new URL(definition.module, callerModule('defineTask', defineTask)).href
        : definition.module;
  const task = {
    name: definition.name,
    module,
    id: `${module}#${definition.name}`,
    multiThreadable: definition.multiThreadable ?? false,
    restartable: definition.restartable ?? false,
    ...(definition.retry !== undefined && {
      retry: retryPolicy(definition.retry, `task ${definition.name}`),
    }),
    ...(definition.timeoutMs !== undefined && {
      timeoutMs: requestTimeout(definition.timeoutMs, `task ${definition.name}`),
    }),
    deps: definition.deps,
    run: definition.run,
    [kTask]: true as const,
  };
  Object.defineProperty(task, kMultiThreadable, { value: task.multiThreadable });
  return Object.freeze(task);
}

/**
 * A copy of `policy`, frozen, or a TypeError saying what is wrong with it: a bad policy is a
 * mistake in the program, found where it is written rather than when a node is lost.
 */
export function retryPolicy(policy: RetryPolicy, owner: string): Readonly<RetryPolicy> {
  const problem = retryProblem(policy);
  if (problem !== undefined) throw new TypeError(`invalid retry for ${owner}: ${problem}`);
  const { attempts, backoffMs } = policy;
  return Object.freeze(backoffMs === undefined ? { attempts } : { attempts, backoffMs });
}

/** `timeoutMs`, or a TypeError saying what is wrong with it, where it is written. */
export function requestTimeout(timeoutMs: number, owner: string): number {
  const problem = timeoutProblem(timeoutMs);
  if (problem !== undefined) throw new TypeError(`invalid timeoutMs for ${owner}: ${problem}`);
  return timeoutMs;
}

export function isTask(value: unknown): value is Task {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kTask] === true;
}

/** Whether a task declared itself thread-safe, read by registered name, not by object identity. */
export function isMultiThreadable(value: unknown): boolean {
  return isTask(value) && (value as unknown as Record<symbol, unknown>)[kMultiThreadable] === true;
}

/** The file URL of the module that called `fn` (defineTask, defineJob), from the stack. */
export function callerModule(name: string, fn: (...args: never[]) => unknown): string {
  // The stack is cut at `fn` (defineTask, defineJob), so its first frame is whoever called it,
  // wherever that file lives (a package under node_modules too), and whatever limit the process
  // set for stack traces (a model checker's worker sets none at all).
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = Math.max(limit, 1);
  const holder: { stack?: string } = {};
  try {
    Error.captureStackTrace(holder, fn);
  } finally {
    Error.stackTraceLimit = limit;
  }
  const first = holder.stack?.split('\n')[1];
  const location =
    first === undefined ? undefined : /(file:\/\/[^\s)]+?|\/[^\s():]+?):\d+:\d+/.exec(first)?.[1];
  if (location) return location.startsWith('file://') ? location : pathToFileURL(location).href;
  throw new TypeError(
    `${name} could not tell which module it was called from; pass \`module: import.meta.url\``,
  );
}

function isRelative(specifier: string): boolean {
  return /^\.\.?(\/|$)/.test(specifier);
}

/**
 * Verdicts by task id: a request names one of a handful of tasks, over and over (keyed by the id
 * itself, not its module's specifier, which would be a new string to slice and hash each time).
 */
const verdicts = new Map<string, string | null>();

/**
 * Why no node could load the module of task id `task`, or undefined when one may. Checked before
 * a request is sent: a node that cannot import the module fails late with a confusing error
 * (a relative path resolves against troupe's own files there), and importing the host's own
 * script runs the host's program again, on the node, which never answers.
 */
export function unloadableTask(task: string): string | undefined {
  let verdict = verdicts.get(task);
  if (verdict === undefined) {
    const hash = task.lastIndexOf('#');
    verdict = judgeModule(hash > 0 ? task.slice(0, hash) : task) ?? null;
    if (verdicts.size < 1024) verdicts.set(task, verdict);
  }
  return verdict ?? undefined;
}

function judgeModule(specifier: string): string | undefined {
  if (isRelative(specifier)) {
    return (
      `its module ${JSON.stringify(specifier)} is a relative path, which a node would resolve against ` +
      "troupe's own files, not your script's: pass a file URL, such as " +
      `\`\${new URL(${JSON.stringify(specifier)}, import.meta.url)}#name\``
    );
  }
  if (!specifier.startsWith('file:')) return undefined;
  let path: string;
  try {
    path = fileURLToPath(specifier);
  } catch {
    return `its module ${specifier} is not a valid file URL`;
  }
  const name = basename(path);
  if (/^\[[^\]]*\]$/.test(name)) {
    return (
      `it was defined in code with no file of its own (${name}: node -e, stdin or a REPL), and a node ` +
      'imports the module a task is exported from: define the task in a file and export it under its name'
    );
  }
  if (!isHostEntryScript(path)) return undefined;
  return (
    `its module ${path} is the host's own script, and a node finds a task by importing its module: ` +
    "that would run the host's program again on the node (which never answers, or starts nodes of " +
    'its own). Define tasks in a module of their own, export each under its name, and import that ' +
    'module from the script'
  );
}

/** The export a request names: by its export name, or failing that, any marked export of that name. */
export function findExport<T extends { name: string }>(
  module: Record<string, unknown>,
  name: string,
  marked: (value: unknown) => value is T,
): { found: T } | { other: unknown } | undefined {
  const named = module[name];
  if (marked(named)) return { found: named };
  const byName = Object.values(module).find((value) => marked(value) && value.name === name);
  if (byName !== undefined) return { found: byName as T };
  return named === undefined ? undefined : { other: named };
}
