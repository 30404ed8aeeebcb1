import type { AnyStateMachine, InspectionEvent } from 'xstate';
import { getStateNodes } from 'xstate/graph';

type AnyStateNode = ReturnType<typeof getStateNodes>[number];
type AnyTransition = {
  source: AnyStateNode;
  eventType: string;
  target?: readonly AnyStateNode[] | undefined;
};

/** What a set of runs reached, per machine id: state node ids and transition keys. */
export interface CoverageData {
  states: Record<string, string[]>;
  transitions: Record<string, string[]>;
}

/** A transition's stable name: its source, its event (or `always`), its place among that event's candidates, its targets. */
function transitionKey(t: AnyTransition): string {
  const candidates: readonly unknown[] =
    t.eventType === '' ? (t.source.always ?? []) : (t.source.transitions.get(t.eventType) ?? []);
  const index = candidates.indexOf(t);
  const targets = t.target && t.target.length > 0 ? t.target.map((node) => node.id).join(',') : '(self)';
  return `${t.source.id} on ${t.eventType || 'always'}[${index}] → ${targets}`;
}

function machineOf(node: AnyStateNode): string {
  return node.machine.id;
}

/**
 * Every state and transition of a machine, from its definition (xstate/graph walks the state
 * nodes): what coverage is measured against.
 */
export function machineGraph(machine: AnyStateMachine): { states: string[]; transitions: string[] } {
  const nodes = [machine.root, ...getStateNodes(machine.root)];
  const states = [...new Set(nodes.map((node) => node.id))];
  const transitions: string[] = [];
  for (const node of new Set(nodes)) {
    for (const list of node.transitions.values()) for (const t of list) transitions.push(transitionKey(t));
    for (const t of node.always ?? []) transitions.push(transitionKey(t));
  }
  return { states, transitions: [...new Set(transitions)] };
}

/**
 * Records which states and transitions of troupe's machines runs reach: pass `inspect` to
 * `setMachineInspector` (from @troupe/transport), run things, read `data`.
 */
export class MachineCoverage {
  readonly #states = new Map<string, Set<string>>();
  readonly #transitions = new Map<string, Set<string>>();

  readonly inspect = (event: InspectionEvent): void => {
    if (event.type === '@xstate.microstep') {
      for (const t of event._transitions as unknown as AnyTransition[]) {
        this.#add(this.#transitions, machineOf(t.source), transitionKey(t));
        // A transient state (one left at once by an eventless transition) is never in a
        // snapshot; entering it through a transition reaches it.
        for (const target of t.target ?? []) this.#add(this.#states, machineOf(target), target.id);
      }
    } else if (event.type === '@xstate.snapshot') {
      const nodes = (event.snapshot as { _nodes?: AnyStateNode[] })._nodes;
      for (const node of nodes ?? []) this.#add(this.#states, machineOf(node), node.id);
    }
  };

  get data(): CoverageData {
    const flat = (map: Map<string, Set<string>>) =>
      Object.fromEntries([...map].map(([machine, set]) => [machine, [...set].sort()]));
    return { states: flat(this.#states), transitions: flat(this.#transitions) };
  }

  /** Adds what another run recorded. */
  merge(data: CoverageData): void {
    for (const [machine, states] of Object.entries(data.states))
      for (const s of states) this.#add(this.#states, machine, s);
    for (const [machine, keys] of Object.entries(data.transitions))
      for (const k of keys) this.#add(this.#transitions, machine, k);
  }

  /** What of these machines no run reached, as readable lines (empty when everything was). */
  missing(machines: readonly AnyStateMachine[]): string[] {
    const lines: string[] = [];
    for (const machine of machines) {
      const graph = machineGraph(machine);
      const states = this.#states.get(machine.id) ?? new Set();
      const transitions = this.#transitions.get(machine.id) ?? new Set();
      for (const state of graph.states) if (!states.has(state)) lines.push(`${machine.id}: state ${state}`);
      for (const key of graph.transitions)
        if (!transitions.has(key)) lines.push(`${machine.id}: transition ${key}`);
    }
    return lines;
  }

  #add(map: Map<string, Set<string>>, machine: string, key: string): void {
    let set = map.get(machine);
    if (!set) {
      set = new Set();
      map.set(machine, set);
    }
    set.add(key);
  }
}
