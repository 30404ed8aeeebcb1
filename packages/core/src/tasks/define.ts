import { pathToFileURL } from 'node:url';
import type { TaskContext } from './context.js';

/** The marker is a registered symbol, so a task made by another copy of @troupe/core still counts. */
const kTask = Symbol.for('troupe.task');
const kMultiThreadable = Symbol.for('troupe.task.multiThreadable');

export interface TaskDefinition<I = unknown, O = unknown> {
  /** The export name the task is found under in its module (or any name, when `module` says where). */
  name: string;
  /** The task is safe to run in a thread shared with other tasks (no process-wide state). */
  multiThreadable?: boolean;
  /** The module nodes import to find this task; default: the module that called defineTask. */
  module?: string;
  run(input: I, ctx: TaskContext): O | Promise<O>;
}

export interface Task<I = unknown, O = unknown> {
  readonly name: string;
  readonly module: string;
  /** What a request names: `module#name`. */
  readonly id: string;
  readonly multiThreadable: boolean;
  run(input: I, ctx: TaskContext): O | Promise<O>;
  readonly [kTask]: true;
}

/**
 * Defines a task in a module nodes can load. Export it under its `name`:
 *
 *     export const compile = defineTask({ name: 'compile', async run(input, ctx) { ... } });
 */
export function defineTask<I, O>(definition: TaskDefinition<I, O>): Task<I, O> {
  const module = definition.module ?? callerModule('defineTask');
  const task = {
    name: definition.name,
    module,
    id: `${module}#${definition.name}`,
    multiThreadable: definition.multiThreadable ?? false,
    run: definition.run,
    [kTask]: true as const,
  };
  Object.defineProperty(task, kMultiThreadable, { value: task.multiThreadable });
  return Object.freeze(task);
}

export function isTask(value: unknown): value is Task {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kTask] === true;
}

/** Whether a task declared itself thread-safe, read by registered name, not by object identity. */
export function isMultiThreadable(value: unknown): boolean {
  return isTask(value) && (value as unknown as Record<symbol, unknown>)[kMultiThreadable] === true;
}

/** The file URL of the module that called `fn` (defineTask, defineJob), from the stack. */
export function callerModule(fn: string): string {
  // The caller is a few frames up, whatever limit the process set for stack traces (a model
  // checker's worker sets none at all).
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = Math.max(limit, 16);
  let trace: string | undefined;
  try {
    trace = new Error().stack;
  } finally {
    Error.stackTraceLimit = limit;
  }
  const stack = trace?.split('\n') ?? [];
  for (const line of stack.slice(1)) {
    const match = /(file:\/\/[^\s)]+?|\/[^\s():]+?):\d+:\d+/.exec(line);
    const location = match?.[1];
    if (
      !location ||
      location.includes('/tasks/define.') ||
      location.includes('/jobs/define.') ||
      location.includes('/node_modules/')
    )
      continue;
    return location.startsWith('file://') ? location : pathToFileURL(location).href;
  }
  throw new TypeError(
    `${fn} could not tell which module it was called from; pass \`module: import.meta.url\``,
  );
}
