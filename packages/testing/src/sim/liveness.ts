// Liveness in the style of Coyote's hot states: once the faults have stopped, nothing may stay
// "hot" (waiting on the world to move for it) for longer than a bound of steps. A safety monitor
// sees a bad thing happen; this one sees a good thing fail to happen, which in a finite schedule
// can only be told by a bound.
import type { RequestState, Runtime } from '@troupe/core';
import { FINISHED } from '@troupe/core/internal';
import type { Monitor, Simulation } from './simulation.js';

/** The request states that wait on the scheduler to hand them a node: each must end. */
const HOT_REQUEST_STATES: Partial<Record<RequestState, string>> = {
  waiting: 'waiting for a node',
  staged: 'staged behind the active request of its node',
  ready: 'ready, waiting for its node',
  reacquiring: 'reacquiring its node',
};

/** The node connection states that must end: shutting a node down, and killing a lost one. */
const HOT_NODE_STATES: Readonly<Record<string, string>> = {
  closing: 'shutting down',
  lost: 'declared lost and not yet gone',
};

interface Hot {
  /** The step it became hot. */
  readonly since: number;
  /** What it is, for the message: `r.3 (join) reacquiring its node`. */
  readonly what: string;
}

/**
 * No request, node or cancel stays hot for more than `bound` steps once the faults have stopped
 * (`FaultBudget.until`, the budget spent, or the script finished): a request waiting for a node,
 * staged, ready or reacquiring; a request the host ended (a cancel, a timeout) that still holds
 * its node, the node not having answered for it; a node shutting down or being killed. A hot
 * state entered before the faults stopped is counted from the step they did. The bound is in
 * steps, not time: a world that only lets time pass (pings, timers) while a request starves still
 * takes steps. The message names the wait-for chain of the scheduler.
 */
export function hotStates(sim: Simulation, runtime: Runtime, options: { bound: number }): Monitor {
  const name = 'nothing stays hot';
  const { bound } = options;
  const requests = new Map<string, Hot>();
  runtime.on('request', (request, _from, to) => {
    const what = HOT_REQUEST_STATES[to];
    if (what === undefined) requests.delete(request.id);
    else
      requests.set(request.id, {
        since: sim.steps,
        what: `${request.id} (${taskName(request.spec.task)}) ${what}`,
      });
  });
  /** Nodes shutting down or lost, and ended requests still holding a node: looked at each step. */
  const others = new Map<string, Hot>();
  const seen = new Set<string>();
  const note = (key: string, what: string) => {
    seen.add(key);
    if (!others.has(key)) others.set(key, { since: sim.steps, what });
  };
  return {
    name,
    afterStep(current) {
      const stopped = current.faultsStoppedAt;
      // Anything hot before the faults stop counts from the step they did: no need to look yet.
      if (stopped === undefined) return;
      seen.clear();
      for (const node of runtime.nodes) {
        const hot = HOT_NODE_STATES[node.state];
        if (hot !== undefined) note(`node ${node.id}`, `${node.id} ${hot}`);
        const active = runtime.scheduler.activeOn(node.id);
        if (active && FINISHED.has(active.state))
          note(
            `cancel ${active.id}`,
            `${active.id} (${taskName(active.spec.task)}), ${active.state} by its host, still holding ${node.id} (cancelling)`,
          );
      }
      for (const key of others.keys()) if (!seen.has(key)) others.delete(key);
      for (const hot of [requests.values(), others.values()]) {
        for (const { since, what } of hot) {
          const steps = current.steps - Math.max(since, stopped);
          if (steps <= bound) continue;
          current.violate(
            name,
            `${what} for ${steps} steps since the faults stopped (bound ${bound}). ${describeWaits(runtime)}`,
          );
          return;
        }
      }
    },
  };
}

/** The runtime's wait-for graph in one line: its cycle, if any, and what waits for what. */
export function describeWaits(runtime: Runtime): string {
  const { cycle, waits } = runtime.scheduler.waitFor();
  const head = cycle ? `wait-for cycle: ${cycle.join(' → ')}; ` : '';
  return `${head}what waits for what: ${waits.join('; ') || 'nothing'}`;
}

/** A task's name without its module: `join` for `file:///…/tasks.js#join`. */
function taskName(task: string): string {
  return task.slice(task.lastIndexOf('#') + 1);
}
