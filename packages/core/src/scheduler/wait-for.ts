import type { WaitFor } from '../errors.js';
import type { NodeSlot, Pool, Pools } from './pools.js';
import { FINISHED, type ScheduledRequest } from './request.js';

// The wait-for graph of a scheduler, for the reports of a run that stopped moving (a stall, a
// simulated world with no step left): who waits for whom, down to what holds them. Its vertices
// are requests, nodes and pools: a blocked or pending request waits on the requests it asked
// for, a waiting request for a node of its pool, a continuation (ready, reacquiring) or a staged
// request for its own node, a pool for its nodes when every one is held, a node for the request
// active there. Only an active request holds a node; what an executing request itself waits on
// is its task's business, out of the scheduler's sight, so that is where a healthy scheduler's
// chains end. A cycle in what the scheduler does see means its own bookkeeping went wrong (a
// continuation active on the node it waits for, say): it is found and named first.

type Vertex = ScheduledRequest | NodeSlot | Pool;

/** What a vertex waits for (`next`; none where the scheduler's sight ends), and the lines that say so. */
interface Waits {
  readonly next: readonly Vertex[];
  readonly lines: readonly string[];
}

const end = (line: string): Waits => ({ next: [], lines: [line] });
const on = (next: readonly Vertex[], lines: readonly string[]): Waits => ({ next, lines });

const isRequest = (vertex: Vertex): vertex is ScheduledRequest => 'spec' in vertex;
const isSlot = (vertex: Vertex): vertex is NodeSlot => 'runnable' in vertex;

function label(vertex: Vertex): string {
  // The task's name without its module: the request id already tells requests apart.
  if (isRequest(vertex))
    return `${vertex.id} (${vertex.spec.task.slice(vertex.spec.task.lastIndexOf('#') + 1)})`;
  if (isSlot(vertex)) return vertex.id;
  return `pool ${vertex.name}`;
}

/** The wait-for graph of `requests` on `pools`, its cycle if it has one, and every wait in it. */
export function waitFor(requests: Iterable<ScheduledRequest>, pools: Pools): WaitFor {
  const slotOf = (request: ScheduledRequest) =>
    request.node === undefined ? undefined : pools.nodes.get(request.node);
  /** Each node's active request, and the node: one the host already ended still holds it. */
  const holding = new Map<ScheduledRequest, NodeSlot>();
  for (const slot of pools.nodes.values()) if (slot.active) holding.set(slot.active, slot);

  const edges = (vertex: Vertex): Waits => {
    const name = label(vertex);
    if (isSlot(vertex)) {
      if (!vertex.active) return end(`${name} is free, yet nothing was started there`);
      return on([vertex.active], [`${name} is held by ${label(vertex.active)}`]);
    }
    if (!isRequest(vertex)) {
      if (vertex.nodes.size === 0) {
        const coming = vertex.growing > 0 ? ` (${vertex.growing} on the way)` : '';
        return end(
          `${name} has no node${coming}${vertex.growthError ? `: ${vertex.growthError.message}` : ''}`,
        );
      }
      const nodes = [...vertex.nodes];
      const free = nodes.filter((slot) => !slot.active).map((slot) => slot.id);
      if (free.length > 0)
        return end(`${name} has a free node (${free.join(', ')}), yet nothing was started there`);
      return on(nodes, [`${name} has every node held (${nodes.map((slot) => slot.id).join(', ')})`]);
    }
    const node = slotOf(vertex);
    const state = vertex.state;
    switch (state) {
      case 'pending':
      case 'blocked': {
        const deps = [...vertex.waitingOn];
        if (deps.length === 0) return end(`${name} (${state}) waits on nothing, yet was not continued`);
        return on(deps, [`${name} (${state}) waits on ${deps.map(label).join(', ')}`]);
      }
      case 'waiting': {
        const pool = pools.find(vertex.pool);
        if (!pool) return end(`${name} waits for a node of pool ${vertex.pool}, which has none`);
        return on([pool], [`${name} waits for a node of ${label(pool)}`]);
      }
      case 'ready':
      case 'reacquiring':
      case 'staged':
        if (!node) return end(`${name} (${state}) waits for ${vertex.node ?? 'a node'}, which is gone`);
        return on([node], [`${name} (${state}) waits for its node ${node.id}`]);
      case 'executing':
        return end(
          `${name} holds ${vertex.node} and neither finished nor yielded: it waits on something outside the runtime`,
        );
      case 'yielded':
        return end(`${name} yielded ${vertex.node}: it waits on something outside the runtime`);
      case 'retrying':
        return end(`${name} waits out its retry back-off`);
      default: {
        const held = holding.get(vertex);
        return end(
          held
            ? `${name} was ${state} here and holds ${held.id} until the node answers for it`
            : `${name} is ${state}`,
        );
      }
    }
  };

  const stuck = [...requests]
    .filter((r) => !FINISHED.has(r.state) || holding.has(r))
    .sort((a, b) => a.seq - b.seq);
  // The requests nothing waits on first, so the lines read from the top of each chain down.
  const roots = [...stuck.filter((r) => r.waiters.size === 0), ...stuck.filter((r) => r.waiters.size > 0)];

  const waits: string[] = [];
  const done = new Set<Vertex>();
  const onPath = new Map<Vertex, number>();
  const path: Vertex[] = [];
  let cycle: Vertex[] | undefined;
  // Depth first, on an explicit stack: a chain of requests may be as long as a build is deep.
  for (const root of roots) {
    if (done.has(root)) continue;
    const stack: Array<{ vertex: Vertex; next: readonly Vertex[]; at: number }> = [];
    const enter = (vertex: Vertex) => {
      const { next, lines } = edges(vertex);
      waits.push(...lines);
      onPath.set(vertex, path.length);
      path.push(vertex);
      stack.push({ vertex, next, at: 0 });
    };
    enter(root);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const to = top.next[top.at++];
      if (!to) {
        stack.pop();
        path.pop();
        onPath.delete(top.vertex);
        done.add(top.vertex);
        continue;
      }
      const at = onPath.get(to);
      if (at !== undefined) cycle ??= [...path.slice(at), to];
      else if (!done.has(to)) enter(to);
    }
  }
  return { cycle: cycle?.map(label), waits };
}
