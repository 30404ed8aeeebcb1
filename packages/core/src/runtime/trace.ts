// A runtime's timeline: what its scheduler, node contexts and providers already announce, turned
// into tracks of a TraceRecorder. It keeps no state of the runtime's own: each span opens and
// closes on an event of the machine or table that owns the state (request transitions, the node
// context's regions, a provider's shutdown steps), read on the runtime's injected clock.
import type { Clock } from '@troupe/transport';
import type { NodeContext } from '../nodes/context.js';
import type { NodeExitStep } from '../nodes/process.js';
import type { RequestState, ScheduledRequest } from '../scheduler/request.js';
import type { StallReport } from '../scheduler/scheduler.js';
import {
  deferEvents,
  type OpenSpan,
  type TraceProcess,
  type TraceRecorder,
  type TraceTrack,
} from '../trace.js';
import { RequestLog } from './request-log.js';

/** Span names of the connection region's states: what a person reading a timeline calls them. */
const CONNECTION_SPANS: Readonly<Record<string, string>> = {
  handshaking: 'handshake',
  'active.quiet': 'idle',
  'active.watching': 'busy',
  lost: 'lost',
  closing: 'closing',
};

/** Where one node's spans go: its connection (the machine), the requests it runs, its process's end. */
interface NodeTracks {
  readonly process: TraceProcess;
  readonly connection: TraceTrack;
  readonly requests: TraceTrack;
  exit: TraceTrack | undefined;
  state: OpenSpan | undefined;
  exitWait: OpenSpan | undefined;
}

/**
 * Records one runtime: a process `runtime` (the scheduler's stalls and lost nodes), a process
 * `requests` with a track per request (its states: pending, waiting, staged, executing, blocked,
 * ready, yielded, reacquiring; how it ended; restarts), and a process per node with tracks for its
 * connection (launch or reuse, handshake, idle, busy, lost, closing, the exit packet), the requests
 * it ran, and its process's exit (the wait with its back-off, the kill). Arrows go from each
 * request's last run to the run of every request that waited on it (declared or discovered).
 */
export class RuntimeTrace {
  readonly #recorder: TraceRecorder;
  readonly #clock: Clock;
  readonly #scheduler: TraceTrack;
  readonly #nodes = new Map<string, NodeTracks>();
  readonly #requests: RequestLog;

  constructor(recorder: TraceRecorder, clock: Clock) {
    this.#recorder = recorder;
    this.#clock = clock;
    this.#scheduler = recorder.process('runtime').thread('scheduler');
    this.#requests = new RequestLog(recorder.process('requests').pid, (node) => this.#node(node).requests);
    deferEvents(recorder, this.#requests);
  }

  /** A node context exists (`AcquireOptions.created`): its tracks start with its launch. */
  readonly nodeCreated = (node: NodeContext, how: 'launched' | 'reused'): void => {
    const tracks = this.#node(node.id);
    const now = this.#clock.now();
    tracks.state?.close(now);
    tracks.state = tracks.connection.open(how === 'reused' ? 'reuse' : 'launch', now, {
      kind: node.kind,
      ...(node.pid !== undefined && { pid: node.pid }),
    });
    node.on('state', (region, state) => this.#nodeMoved(tracks, region, state));
    node.once('ready', () => tracks.connection.instant('accepted', this.#clock.now()));
  };

  /** A node joined the pool. One its provider did not announce as created is watched from here. */
  nodeAdopted(node: NodeContext): void {
    if (this.#nodes.has(node.id)) return;
    const tracks = this.#node(node.id);
    tracks.state = tracks.connection.open(CONNECTION_SPANS['active.quiet']!, this.#clock.now());
    node.on('state', (region, state) => this.#nodeMoved(tracks, region, state));
  }

  nodeLost(node: NodeContext, error: Error): void {
    this.#scheduler.instant('node lost', this.#clock.now(), { node: node.id, error: firstLine(error) });
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

  /** A process node's shutdown steps (`ProcessNodeProviderEvents.exit`). */
  exitStep(node: NodeContext, { step, ...detail }: NodeExitStep): void {
    const tracks = this.#node(node.id);
    const now = this.#clock.now();
    tracks.exit ??= tracks.process.thread('process');
    if (step === 'waiting') tracks.exitWait = tracks.exit.open('waiting for exit', now);
    else if (step === 'paused') tracks.exit.instant('back-off', now, detail);
    else if (step === 'exited') tracks.exitWait?.close(now, { exited: true });
    else if (step === 'killed') {
      tracks.exitWait?.close(now, { exited: false });
      tracks.exit.instant('kill', now);
      tracks.exitWait = tracks.exit.open('waiting after kill', now);
    } else tracks.exitWait?.close(now, { gone: step === 'gone' });
  }

  /** Every request state change (the scheduler's `transition` event). */
  request(request: ScheduledRequest, from: RequestState | 'new', to: RequestState): void {
    this.#requests.transition(request, from, to, this.#clock.now());
  }

  /** A restartable request starts again from the start (the scheduler's `restarted` event). */
  restarted(request: ScheduledRequest, from: string | undefined, to: string | undefined): void {
    this.#requests.restarted(request, from, to, this.#clock.now());
  }

  #nodeMoved(tracks: NodeTracks, region: 'connection' | 'exitPacket', state: string): void {
    const now = this.#clock.now();
    if (region === 'exitPacket') {
      tracks.connection.instant(`exit packet ${state}`, now);
      return;
    }
    tracks.state?.close(now);
    tracks.state = undefined;
    const span = CONNECTION_SPANS[state];
    if (span) tracks.state = tracks.connection.open(span, now, { state: `connection.${state}` });
    else tracks.connection.instant(state, now);
  }

  #node(id: string): NodeTracks {
    let tracks = this.#nodes.get(id);
    if (!tracks) {
      const process = this.#recorder.process(id);
      tracks = {
        process,
        connection: process.thread('connection'),
        requests: process.thread('requests'),
        exit: undefined,
        state: undefined,
        exitWait: undefined,
      };
      this.#nodes.set(id, tracks);
    }
    return tracks;
  }
}

function firstLine(error: Error): string {
  return error.message.split('\n')[0]!;
}
