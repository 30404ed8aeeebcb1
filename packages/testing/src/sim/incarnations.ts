// The fencing monitor: nothing a lost incarnation of a node sends moves a request.
import type { Runtime } from '@troupe/core';
import type { Monitor, Simulation } from './simulation.js';

const CONVERSATION = new Set(['BuildResult', 'BuildBlocked', 'Yield']);

/**
 * No result, block or yield of a lost incarnation is applied. Each connection's incarnation is
 * read off the wire (its NodeConfiguration); an incarnation is lost once the runtime says so
 * (`node.lost`). A request that moves in the same step (its microtasks included) as such a packet
 * about it is delivered moved on that packet: a late answer from a node that was only slow, or
 * from behind a partition that healed, was taken for the live run's.
 */
export function lostIncarnationsFenced(sim: Simulation, runtime: Runtime): Monitor {
  const name = 'no result of a lost incarnation applied';
  const incarnationOf = new Map<string, string>();
  const lost = new Set<string>();
  /** The step in which each request last moved, and in which a lost incarnation last spoke of it. */
  const moved = new Map<string, number>();
  const late = new Map<string, { step: number; what: string }>();
  runtime.on('node.lost', (node) => lost.add(`${node.id}#${node.incarnation}`));
  runtime.on('request', (request, from, to) => {
    moved.set(request.id, sim.steps);
    const news = late.get(request.id);
    if (news?.step === sim.steps) sim.violate(name, `${request.id} moved ${from} → ${to} on ${news.what}`);
  });
  return {
    name,
    onPacket(packet, phase, current) {
      const body = packet.body as Record<string, unknown> | undefined;
      if (!body || typeof body !== 'object') return;
      if (packet.name === 'NodeConfiguration' && phase === 'written') {
        incarnationOf.set(packet.connection, `${String(body.nodeId)}#${String(body.incarnation)}`);
        return;
      }
      if (phase !== 'delivered' || !CONVERSATION.has(packet.name)) return;
      const incarnation = incarnationOf.get(packet.connection);
      if (incarnation === undefined || !lost.has(incarnation)) return;
      const id = String(body.id ?? body.requestId);
      const what = `a ${packet.name} from ${incarnation}, declared lost`;
      late.set(id, { step: current.steps, what });
      if (moved.get(id) === current.steps) current.violate(name, `${id} moved on ${what}`);
    },
  };
}
