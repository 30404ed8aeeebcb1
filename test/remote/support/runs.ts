// What a run did, from the runtime's events: how often each request completed (exactly once is
// the rule, whatever was lost), where each ran, and which nodes were lost and why.
import type { Runtime, ScheduledRequest } from '@troupe/core';

export interface RunRecord {
  /** Request id → how many times it entered `completed`. */
  readonly completions: Map<string, number>;
  /** Request id → the request, as it ended. */
  readonly ended: Map<string, ScheduledRequest>;
  /** Node id → where it runs ('local', a launcher prefix, an endpoint). */
  readonly locations: Map<string, string>;
  /** Location → requests completed there. */
  completedAt(location: string): number;
  /** The nodes lost, where they ran and the error their requests were given. */
  readonly lost: Array<{ location: string; error: Error }>;
  /** Requests executing now, on the node at `location`. */
  executingAt(location: string): ScheduledRequest[];
}

export function record(runtime: Runtime): RunRecord {
  const completions = new Map<string, number>();
  const ended = new Map<string, ScheduledRequest>();
  const locations = new Map<string, string>();
  const executing = new Map<string, ScheduledRequest>();
  /** Where each request last started running: its node may be cleared by the time it ends. */
  const ranAt = new Map<string, string>();
  const byLocation = new Map<string, number>();
  const lost: Array<{ location: string; error: Error }> = [];
  runtime.on('node', (node) => locations.set(node.id, node.location));
  runtime.on('node.lost', (node, error) => lost.push({ location: node.location, error }));
  runtime.on('request', (request, _from, to) => {
    if (to === 'executing') {
      executing.set(request.id, request);
      ranAt.set(request.id, locations.get(request.node ?? '') ?? 'unknown');
    } else executing.delete(request.id);
    if (to === 'completed') {
      completions.set(request.id, (completions.get(request.id) ?? 0) + 1);
      const location = ranAt.get(request.id) ?? 'unknown';
      byLocation.set(location, (byLocation.get(location) ?? 0) + 1);
    }
    if (to === 'completed' || to === 'failed' || to === 'cancelled') ended.set(request.id, request);
  });
  return {
    completions,
    ended,
    locations,
    lost,
    completedAt: (location) => byLocation.get(location) ?? 0,
    executingAt: (location) =>
      [...executing.values()].filter((request) => locations.get(request.node ?? '') === location),
  };
}
