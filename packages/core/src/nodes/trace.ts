// Nodes on a timeline: what a node context and its provider already announce (the machine's
// regions, the provider's shutdown steps) as tracks of a TraceRecorder, on the owner's clock.
// The runtime and the job dispatcher both draw their nodes with it.
import type { Clock } from '@troupe/transport';
import type { OpenSpan, TraceProcess, TraceRecorder, TraceTrack } from '../trace.js';
import type { NodeContext } from './context.js';
import type { NodeExitStep } from './process-options.js';

/** Span names of the connection region's states: what a person reading a timeline calls them. */
export const CONNECTION_SPANS: Readonly<Record<string, string>> = {
  handshaking: 'handshake',
  'active.quiet': 'idle',
  'active.watching': 'busy',
  lost: 'lost',
  closing: 'closing',
};

/** The track of a node's end, named after what runs it: the process, the thread, the endpoint. */
const EXIT_TRACKS: Readonly<Record<string, string>> = {
  process: 'process',
  thread: 'thread',
  inproc: 'endpoint',
};

/** Where one node's spans go: its connection (the machine), what it runs, its process's end. */
interface NodeTracks {
  readonly process: TraceProcess;
  readonly connection: TraceTrack;
  readonly runs: TraceTrack | undefined;
  exit: TraceTrack | undefined;
  state: OpenSpan | undefined;
  exitWait: OpenSpan | undefined;
}

/**
 * A process per node, with a track for its connection (launch or reuse, handshake, idle, busy,
 * lost, closing, the exit packet, closed or failed), optionally one for the requests it runs
 * (`runs`), and one for the end of what ran it (its process, thread or in-process endpoint: the
 * wait with its back-off, the kill).
 */
export class NodeTimeline {
  readonly #recorder: TraceRecorder;
  readonly #clock: Clock;
  readonly #runs: boolean;
  readonly #nodes = new Map<string, NodeTracks>();

  constructor(recorder: TraceRecorder, clock: Clock, options: { runs: boolean }) {
    this.#recorder = recorder;
    this.#clock = clock;
    this.#runs = options.runs;
  }

  /** A node context exists (`AcquireOptions.created`): its tracks start with its launch. */
  readonly created = (node: NodeContext, how: 'launched' | 'reused'): void => {
    const tracks = this.#node(node.id);
    const now = this.#clock.now();
    tracks.state?.close(now);
    tracks.state = tracks.connection.open(how === 'reused' ? 'reuse' : 'launch', now, {
      kind: node.kind,
      ...(node.pid !== undefined && { pid: node.pid }),
    });
    node.on('state', (region, state) => this.#moved(tracks, region, state));
    node.once('ready', () => tracks.connection.instant('accepted', this.#clock.now()));
  };

  /** A node joined its host. One its provider did not announce as created is watched from here. */
  adopted(node: NodeContext): void {
    if (this.#nodes.has(node.id)) return;
    const tracks = this.#node(node.id);
    tracks.state = tracks.connection.open(CONNECTION_SPANS['active.quiet']!, this.#clock.now());
    node.on('state', (region, state) => this.#moved(tracks, region, state));
  }

  /** The track of the requests a node runs (with `runs`). */
  runsOf(id: string): TraceTrack {
    return this.#node(id).runs!;
  }

  /**
   * A node's shutdown steps: its process's, thread's or in-process endpoint's end
   * (`ProcessNodeProviderEvents.exit`, `HostedNodeProviderEvents.exit`).
   */
  readonly exitStep = (node: NodeContext, { step, ...detail }: NodeExitStep): void => {
    const tracks = this.#node(node.id);
    const now = this.#clock.now();
    tracks.exit ??= tracks.process.thread(EXIT_TRACKS[node.kind] ?? 'process');
    if (step === 'waiting') tracks.exitWait = tracks.exit.open('waiting for exit', now);
    else if (step === 'paused') tracks.exit.instant('back-off', now, detail);
    else if (step === 'exited') tracks.exitWait?.close(now, { exited: true });
    else if (step === 'killed') {
      tracks.exitWait?.close(now, { exited: false });
      tracks.exit.instant('kill', now);
      tracks.exitWait = tracks.exit.open('waiting after kill', now);
    } else tracks.exitWait?.close(now, { gone: step === 'gone' });
  };

  #moved(tracks: NodeTracks, region: 'connection' | 'exitPacket', state: string): void {
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
        runs: this.#runs ? process.thread('requests') : undefined,
        exit: undefined,
        state: undefined,
        exitWait: undefined,
      };
      this.#nodes.set(id, tracks);
    }
    return tracks;
  }
}
