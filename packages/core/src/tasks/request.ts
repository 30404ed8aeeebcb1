import { TaskModuleError } from '../errors.js';
import type { RequestSpecBody } from '../packets.js';
import { isTask, requestTimeout, retryPolicy, unloadableTask } from './define.js';
import type { RequestLike } from './task.js';

export type { RequestLike } from './task.js';

/**
 * A request as it goes on the wire: the task's id, refused at once if no node could load it, and
 * its declared dependencies (its own `deps`, else its task's `deps(input)`) as specs too. A
 * dependency shared by several requests becomes one spec, shared the same way (`seen`, by identity),
 * so a graph of any shape costs linear time; a cycle stays a cycle, for the scheduler to refuse.
 */
export function toSpec(request: RequestLike, seen?: Map<RequestLike, RequestSpecBody>): RequestSpecBody {
  const known = seen?.get(request);
  if (known) return known;
  const task = isTask(request.task) ? request.task.id : request.task;
  if (typeof task !== 'string')
    throw new TypeError('a request needs a task (defineTask) or a task id string');
  const unloadable = unloadableTask(task);
  if (unloadable !== undefined) throw new TaskModuleError(task, unloadable);
  const spec: RequestSpecBody = { task, input: request.input };
  if (request.cost !== undefined) spec.cost = request.cost;
  if (request.outOfProcess) spec.outOfProcess = true;
  const retry =
    request.retry !== undefined
      ? retryPolicy(request.retry, `a request for ${task}`)
      : isTask(request.task)
        ? request.task.retry
        : undefined;
  if (retry !== undefined && retry.attempts > 0) spec.retry = retry;
  const timeoutMs =
    request.timeoutMs !== undefined
      ? requestTimeout(request.timeoutMs, `a request for ${task}`)
      : isTask(request.task)
        ? request.task.timeoutMs
        : undefined;
  if (timeoutMs !== undefined) spec.timeoutMs = timeoutMs;
  const deps = request.deps ?? (isTask(request.task) ? request.task.deps?.(request.input) : undefined);
  if (deps !== undefined) {
    if (!Array.isArray(deps))
      throw new TypeError(`the deps of a request for ${task} must be an array of requests`);
    if (deps.length > 0) {
      const specs = seen ?? new Map<RequestLike, RequestSpecBody>();
      specs.set(request, spec);
      spec.deps = deps.map((dependency) => toSpec(dependency, specs));
    }
  }
  return spec;
}
