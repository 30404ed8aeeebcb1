import { callerModule } from '../tasks/define.js';
import type { JobResult } from './result.js';

/** The marker is a registered symbol, so a job made by another copy of @troupe/core still counts. */
const kJob = Symbol.for('troupe.job');

/** What a running job can do and know. */
export interface JobContext {
  readonly jobId: string;
  /** Aborted when the host cancels the job; the reason is a `JobCancelledError` whose `kind` says why. */
  readonly signal: AbortSignal;
  /** The job's metadata as it stands now (updates replace keys). */
  readonly metadata: Readonly<Record<string, unknown>>;
  /** Called with the new metadata each time the host sends an update; returns an unsubscribe. */
  onMetadata(listener: (metadata: Readonly<Record<string, unknown>>) => void): () => void;
  /** A log line, streamed to the host as it is written. */
  log(message: string, level?: 'debug' | 'info' | 'warn' | 'error'): void;
}

/**
 * A job's code. It returns how the job ended (a `JobResult`; nothing means `Succeeded`, or
 * `Canceled` if the job was cancelled), or throws (`Failed`, or `Canceled` if cancelled).
 */
export type JobFunction<M = unknown> = (message: M, ctx: JobContext) => JobReturn | Promise<JobReturn>;

// biome-ignore lint/suspicious/noConfusingVoidType: a job function that returns nothing succeeded
type JobReturn = JobResult | undefined | void;

export interface Job<M = unknown> {
  /** The export name the job is found under in its module. */
  readonly name: string;
  readonly module: string;
  /** What a job request names: `module#name`. */
  readonly id: string;
  run(message: M, ctx: JobContext): ReturnType<JobFunction<M>>;
  readonly [kJob]: true;
}

/** What `defineJob` takes: the same shape as `defineTask`'s. */
export interface JobDefinition<M = unknown> {
  /** The export name the job is found under in its module. */
  name: string;
  /** The module workers import to find this job; default: the module that called defineJob. */
  module?: string;
  run: JobFunction<M>;
}

/**
 * Defines a job in a module worker processes can load. Export it under its `name`:
 *
 *     export const deploy = defineJob({ name: 'deploy', async run(message, ctx) { ... } });
 *
 * `defineJob(run, { name })`, the first form, still works but is deprecated: one shape for tasks
 * and jobs.
 */
export function defineJob<M = unknown>(definition: JobDefinition<M>): Job<M>;
/** @deprecated Use `defineJob({ name, run })`, the shape `defineTask` takes. */
export function defineJob<M = unknown>(
  run: JobFunction<M>,
  options?: { name?: string; module?: string },
): Job<M>;
export function defineJob<M = unknown>(
  first: JobDefinition<M> | JobFunction<M>,
  options: { name?: string; module?: string } = {},
): Job<M> {
  const definition: { name?: string; module?: string; run: JobFunction<M> } =
    typeof first === 'function' ? { ...options, run: first } : first;
  if (typeof definition.run !== 'function')
    throw new TypeError('defineJob needs a run function: defineJob({ name, run(message, ctx) { ... } })');
  const module = definition.module ?? callerModule('defineJob', defineJob);
  const name = definition.name ?? 'default';
  const run = definition.run;
  return Object.freeze({ name, module, id: `${module}#${name}`, run, [kJob]: true as const });
}

export function isJob(value: unknown): value is Job {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kJob] === true;
}
