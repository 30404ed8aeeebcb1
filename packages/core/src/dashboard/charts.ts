// Statecharts as the dashboard draws them: read from the machines' own definitions (XState's state
// nodes and transitions, the request table), never listed by hand, so a state added to a machine
// appears on the page without anyone editing the page.
import type { AnyStateMachine } from 'xstate';

/** One state of a chart: its dotted path from the root (`connection.active.quiet`). */
export interface ChartState {
  readonly path: string;
  /** The path of the state it is inside; '' for a top-level state. */
  readonly parent: string;
  readonly kind: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  /** Whether it is its parent's initial state. */
  readonly initial: boolean;
}

/** One arrow: the event (or `after …`, `always`) that moves `from` to `to`. */
export interface ChartTransition {
  readonly from: string;
  readonly to: string;
  readonly event: string;
}

export interface Chart {
  readonly id: string;
  /** Whether its top-level states are regions, all active at once (a parallel root). */
  readonly parallel: boolean;
  readonly states: readonly ChartState[];
  readonly transitions: readonly ChartTransition[];
}

/** Structural view of XState's state node: what this module reads of it. */
interface StateNodeLike {
  readonly key: string;
  readonly type: ChartState['kind'];
  readonly path: readonly string[];
  readonly states: Readonly<Record<string, StateNodeLike>>;
  readonly initial?: { readonly target: readonly StateNodeLike[] } | undefined;
  readonly transitions: ReadonlyMap<string, ReadonlyArray<{ readonly target?: readonly StateNodeLike[] }>>;
  readonly always?: ReadonlyArray<{ readonly target?: readonly StateNodeLike[] }> | undefined;
}

/** A machine's states and transitions, from its definition (`machine.root`). */
export function machineChart(machine: AnyStateMachine): Chart {
  const states: ChartState[] = [];
  const transitions: ChartTransition[] = [];
  const seen = new Set<string>();
  const visit = (node: StateNodeLike, parent: string, initial: ReadonlySet<StateNodeLike>): void => {
    const path = node.path.join('.');
    states.push({ path, parent, kind: node.type, initial: initial.has(node) });
    const add = (event: string, targets: readonly StateNodeLike[] | undefined): void => {
      // A targetless transition (actions only) moves no state: nothing to draw.
      for (const target of targets ?? []) {
        const to = target.path.join('.');
        const key = `${path}\u0000${to}\u0000${event}`;
        if (seen.has(key)) continue;
        seen.add(key);
        transitions.push({ from: path, to, event });
      }
    };
    for (const [event, list] of node.transitions) for (const one of list) add(eventLabel(event), one.target);
    for (const one of node.always ?? []) add('always', one.target);
    const initialChildren = new Set(node.initial?.target ?? []);
    for (const child of Object.values(node.states)) visit(child, path, initialChildren);
  };
  const root = machine.root as unknown as StateNodeLike;
  for (const [event, list] of root.transitions)
    for (const one of list)
      for (const target of one.target ?? [])
        transitions.push({ from: '', to: target.path.join('.'), event: eventLabel(event) });
  const initialChildren = new Set(root.initial?.target ?? []);
  for (const child of Object.values(root.states)) visit(child, '', initialChildren);
  return { id: machine.id, parallel: root.type === 'parallel', states, transitions };
}

/** A transition table (`REQUEST_TRANSITIONS`): each state with the states it may move to. */
export function tableChart(
  id: string,
  table: Readonly<Record<string, readonly string[]>>,
  initial: readonly string[],
): Chart {
  const states: ChartState[] = Object.entries(table).map(([path, next]) => ({
    path,
    parent: '',
    kind: next.length === 0 ? 'final' : 'atomic',
    initial: initial.includes(path),
  }));
  const transitions = Object.entries(table).flatMap(([from, next]) =>
    next.map((to) => ({ from, to, event: '' })),
  );
  return { id, parallel: false, states, transitions };
}

/** XState names a delayed transition `xstate.after.<delay>.<state id>`: shown as `after <delay>`. */
function eventLabel(event: string): string {
  const after = /^xstate\.after\.([^.]+)\./.exec(event);
  return after ? `after ${after[1]}` : event;
}

/**
 * Every state a machine's value is in, as chart paths: `{ connection: { active: 'quiet' } }` is
 * `connection`, `connection.active` and `connection.active.quiet`.
 */
export function activePaths(value: unknown, prefix = ''): string[] {
  if (typeof value === 'string') return [prefix ? `${prefix}.${value}` : value];
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([key, inner]) => {
    const path = prefix ? `${prefix}.${key}` : key;
    return [path, ...activePaths(inner, path)];
  });
}
