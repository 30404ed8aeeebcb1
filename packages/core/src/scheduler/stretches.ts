/**
 * How long each task holds its node at a stretch, as this scheduler saw it: from the moment a
 * request became active on its node to the moment it left it (completed, blocked or yielded),
 * round trip included. The adaptive prefetch (`prefetch: 'auto'`) stages a request only behind
 * an active request whose task is known to leave its node soon, so that what it commits to a
 * node is at most a short wait (docs/scheduling.md, "Sending work ahead").
 */

/** A stretch no longer than this, on average for its task, is short enough to stage behind. */
export const SHORT_STRETCH_MS = 10;

export class TaskStretches {
  /** Per task name: stretches seen and their total length (ms). */
  readonly #byTask = new Map<string, { count: number; totalMs: number }>();

  /** A request of `task` left its node after `ms` active. */
  record(task: string, ms: number): void {
    const seen = this.#byTask.get(task);
    if (seen) {
      seen.count++;
      seen.totalMs += ms;
    } else this.#byTask.set(task, { count: 1, totalMs: ms });
  }

  /**
   * Whether a request of `task`, active for `elapsedMs` so far, is expected to leave its node
   * within `SHORT_STRETCH_MS`: its task's stretches average no more than that, and this one has
   * not run past it yet. A task never seen to leave a node is not short: it may be long.
   */
  leavesSoon(task: string, elapsedMs: number): boolean {
    if (elapsedMs > SHORT_STRETCH_MS) return false;
    const seen = this.#byTask.get(task);
    return seen !== undefined && seen.totalMs <= SHORT_STRETCH_MS * seen.count;
  }
}
