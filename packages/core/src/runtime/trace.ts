// A runtime's timeline: what its scheduler, node contexts and providers already announce, turned
// into tracks of a TraceRecorder. It keeps no state of the runtime's own: each span opens and
// closes on an event of the machine or table that owns the state (request transitions, the node
// context's regions, a provider's shutdown steps), read on the runtime's injected clock.
import type { Clock } from '@troupe/transport';
import type { NodeContext } from '../nodes/context.js';
import type { NodeExitStep } from '../nodes/process.js';
import { FINISHED, type RequestState, type ScheduledRequest } from '../scheduler/request.js';
import type { StallReport } from '../scheduler/scheduler.js';
import type { OpenSpan, TraceProcess, TraceRecorder, TraceTrack } from '../trace.js';

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

/** A run of a request on a node, closed: where a flow arrow from it starts. */
interface Run {
  readonly track: TraceTrack;
  readonly startMs: number;
  readonly endMs: number;
}

/** One request's track and what is open on it. */
interface RequestTracks {
  readonly track: TraceTrack;
  readonly label: string;
  state: OpenSpan | undefined;
  run: OpenSpan | undefined;
  /** The requests it waited on since it last ran: arrows into its next run. */
  waited: readonly ScheduledRequest[];
  /** Arrows into the run now open, drawn when it closes (their ends go inside it). */
  into: readonly ScheduledRequest[];
  last: Run | undefined;
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
  readonly #requestProcess: TraceProcess;
  readonly #nodes = new Map<string, NodeTracks>();
  readonly #requests = new WeakMap<ScheduledRequest, RequestTracks>();

  constructor(recorder: TraceRecorder, clock: Clock) {
    this.#recorder = recorder;
    this.#clock = clock;
    this.#scheduler = recorder.process('runtime').thread('scheduler');
    this.#requestProcess = recorder.process('requests');
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
    const now = this.#clock.now();
    let tracks = this.#requests.get(request);
    if (!tracks || from === 'new') {
      const label = requestLabel(request);
      tracks = {
        track: this.#requestProcess.thread(label),
        label,
        state: undefined,
        run: undefined,
        waited: request.declared ?? [],
        into: [],
        last: undefined,
      };
      this.#requests.set(request, tracks);
    }
    tracks.state?.close(now);
    tracks.state = undefined;
    if (from === 'executing') this.#endRun(tracks, now);
    if (to === 'blocked') tracks.waited = [...tracks.waited, ...(request.awaited ?? [])];
    if (FINISHED.has(to)) {
      tracks.track.instant(to, now, {
        id: request.id,
        ...(request.error !== undefined && { error: firstLine(request.error) }),
      });
      return;
    }
    const node = request.node;
    tracks.state = tracks.track.open(to, now, {
      id: request.id,
      ...(node !== undefined && to !== 'waiting' && to !== 'pending' && { node }),
    });
    if (to === 'executing' && node !== undefined) {
      tracks.run = this.#node(node).requests.open(tracks.label, now, { id: request.id }, 'request');
      tracks.into = tracks.waited;
      tracks.waited = [];
    }
  }

  /** A restartable request starts again from the start (the scheduler's `restarted` event). */
  restarted(request: ScheduledRequest, from: string | undefined, to: string | undefined): void {
    const tracks = this.#requests.get(request);
    tracks?.track.instant('restarted', this.#clock.now(), {
      ...(from !== undefined && { from }),
      ...(to !== undefined && { to }),
    });
  }

  /** The run closes; the arrows into it are drawn now that it has an end to put them inside. */
  #endRun(tracks: RequestTracks, now: number): void {
    const open = tracks.run;
    if (!open) return;
    open.close(now);
    tracks.run = undefined;
    const run: Run = { track: open.track, startMs: open.startMs, endMs: now };
    tracks.last = run;
    for (const dependency of tracks.into) {
      const from = this.#requests.get(dependency)?.last;
      if (from) this.#recorder.flow('waited on', from.track, middle(from), run.track, middle(run));
    }
    tracks.into = [];
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

/** The middle of a run: inside it, and inside no neighbour that starts or ends where it does. */
function middle(run: Run): number {
  return (run.startMs + run.endMs) / 2;
}

function firstLine(error: Error): string {
  return error.message.split('\n')[0]!;
}

/** A request as a person reads it: its task's name and the start of its input. */
function requestLabel(request: ScheduledRequest): string {
  const task = request.spec.task;
  const name = task.slice(task.lastIndexOf('#') + 1) || task;
  let input: string;
  try {
    input = JSON.stringify(request.spec.input) ?? 'undefined';
  } catch {
    input = String(request.spec.input);
  }
  return `${name} ${input.length > 60 ? `${input.slice(0, 57)}...` : input}`;
}
