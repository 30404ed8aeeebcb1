import { TaskModuleError } from '../errors.js';
import type { RequestSpecBody } from '../packets.js';
import { isTask, unloadableTask } from './define.js';
import type { RequestLike } from './task.js';

export type { RequestLike } from './task.js';

/** A request as it goes on the wire: the task's id, refused at once if no node could load it. */
export function toSpec(request: RequestLike): RequestSpecBody {
  const task = isTask(request.task) ? request.task.id : request.task;
  if (typeof task !== 'string')
    throw new TypeError('a request needs a task (defineTask) or a task id string');
  const unloadable = unloadableTask(task);
  if (unloadable !== undefined) throw new TaskModuleError(task, unloadable);
  const spec: RequestSpecBody = { task, input: request.input };
  if (request.cost !== undefined) spec.cost = request.cost;
  if (request.outOfProcess) spec.outOfProcess = true;
  return spec;
}
