import type { RequestSpecBody } from '../packets.js';
import { findExport, isMultiThreadable, isTask } from '../tasks/define.js';

/** Where a request runs in multi-threaded mode. */
export type Placement = 'thread' | 'task-host';

const threadSafeBuiltins = new Set(['troupe:ping']);

/**
 * MSBuild's multi-threaded routing: a task that declares itself thread-safe runs on an
 * in-process thread node; every other task runs in a sidecar task-host process, isolated from
 * the rest; a request that asks to run out of process does too.
 *
 * The declaration is read through its registered marker (`Symbol.for`), so a task built against
 * another copy of @troupe/core counts. Deciding may import the task's module once; the decision
 * per task id is cached, and later requests are routed without waiting.
 */
export class TaskRouter {
  readonly #decided = new Map<string, Placement>();
  readonly #deciding = new Map<string, Promise<Placement>>();

  constructor(
    private readonly load: (specifier: string) => Promise<Record<string, unknown>> = (s) => import(s),
  ) {}

  /** Decisions made so far, by task id. */
  get decisions(): ReadonlyMap<string, Placement> {
    return this.#decided;
  }

  route(spec: RequestSpecBody): Placement | Promise<Placement> {
    if (spec.outOfProcess) return 'task-host';
    return this.#decided.get(spec.task) ?? this.#decide(spec.task);
  }

  #decide(task: string): Promise<Placement> {
    let deciding = this.#deciding.get(task);
    if (!deciding) {
      deciding = this.#inspect(task).then((placement) => {
        this.#decided.set(task, placement);
        this.#deciding.delete(task);
        return placement;
      });
      this.#deciding.set(task, deciding);
    }
    return deciding;
  }

  async #inspect(task: string): Promise<Placement> {
    if (threadSafeBuiltins.has(task)) return 'thread';
    const hash = task.lastIndexOf('#');
    if (hash <= 0) return 'task-host';
    let module: Record<string, unknown>;
    try {
      module = await this.load(task.slice(0, hash));
    } catch {
      // A module the host cannot load is run where it is safest; the node will report the error.
      return 'task-host';
    }
    const name = task.slice(hash + 1);
    const exported = findExport(module, name, isTask);
    return exported && 'found' in exported && isMultiThreadable(exported.found) ? 'thread' : 'task-host';
  }
}
