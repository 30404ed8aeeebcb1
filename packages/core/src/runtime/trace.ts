// A runtime's timeline: what its scheduler, node contexts and providers already announce, turned
// into tracks of a TraceRecorder. It keeps no state of the runtime's own: each span opens and
// closes on an event of the machine or table that owns the state (request transitions, the node
// context's regions, a provider's shutdown steps), read on the runtime's injected clock.
import type { Clock } from '@troupe/transport';
import type { NodeContext } from '../nodes/context.js';
import type { NodeExitStep } from '../nodes/process.js';
import { NodeTimeline } from '../nodes/trace.js';
import type { RequestState, ScheduledRequest } from '../scheduler/request.js';
import type { StallReport } from '../scheduler/scheduler.js';
import { deferEvents, type TraceRecorder, type TraceTrack } from '../trace.js';
import type { FencedPacket } from './build-host.js';
import { RequestLog } from './request-log.js';

/**
 * Records one runtime: a process `runtime` (the scheduler's stalls and lost nodes), a process
 * `requests` with a track per request (its states: pending, waiting, staged, executing, blocked,
 * ready, yielded, reacquiring; how it ended; restarts), and a process per node with tracks for its
 * connection (launch or reuse, handshake, idle, busy, lost, closing, the exit packet), the requests
 * it ran, and the end of what ran it (the wait for its process, thread or endpoint, the kill). Arrows go from each
 * request's last run to the run of every request that waited on it (declared or discovered).
 */
export class RuntimeTrace {
  readonly #clock: Clock;
  readonly #scheduler: TraceTrack;
  readonly #nodes: NodeTimeline;
  readonly #requests: RequestLog;

  constructor(recorder: TraceRecorder, clock: Clock) {
    this.#clock = clock;
    this.#scheduler = recorder.process('runtime').thread('scheduler');
    this.#nodes = new NodeTimeline(recorder, clock, { runs: true });
    this.#requests = new RequestLog(recorder.process('requests').pid, (node) => this.#nodes.runsOf(node));
    deferEvents(recorder, this.#requests);
  }

  /** A node context exists (`AcquireOptions.created`): its tracks start with its launch. */
  get nodeCreated(): NodeTimeline['created'] {
    return this.#nodes.created;
  }

  /** A node joined the pool. */
  nodeAdopted(node: NodeContext): void {
    this.#nodes.adopted(node);
  }

  nodeLost(node: NodeContext, error: Error): void {
    this.#scheduler.instant('node lost', this.#clock.now(), { node: node.id, error: firstLine(error) });
  }

  /** A lost incarnation's packet, dropped: an instant on the scheduler's track. */
  fenced(node: NodeContext, packet: FencedPacket): void {
    this.#scheduler.instant('fenced', this.#clock.now(), {
      node: node.id,
      incarnation: node.incarnation,
      packet: packet.type,
      request: packet.requestId,
    });
  }

  stall(report: StallReport): void {
    this.#scheduler.instant('stall', this.#clock.now(), {
      waiting: report.waiting,
      holders: report.holders.map((holder) => ({ ...holder })),
    });
  }

  stallFailed(error: Error): void {
    this.#scheduler.instant('stall failed', this.#clock.now(), { error: firstLine(error) });
  }

  /** A node's shutdown steps: the end of its process, thread or endpoint (its provider's `exit`). */
  exitStep(node: NodeContext, step: NodeExitStep): void {
    this.#nodes.exitStep(node, step);
  }

  /** Every request state change (the scheduler's `transition` event). */
  request(request: ScheduledRequest, from: RequestState | 'new', to: RequestState): void {
    this.#requests.transition(request, from, to, this.#clock.now());
  }

  /** A request runs again because its node was lost (the scheduler's `retried` event). */
  retried(request: ScheduledRequest, from: string, error: Error): void {
    this.#requests.retried(request, from, error, this.#clock.now());
  }

  /** A restartable request starts again from the start (the scheduler's `restarted` event). */
  restarted(request: ScheduledRequest, from: string | undefined, to: string | undefined): void {
    this.#requests.restarted(request, from, to, this.#clock.now());
  }
}

function firstLine(error: Error): string {
  return error.message.split('\n')[0]!;
}
