// Each request's part of a runtime's timeline, kept as a log of its state changes (four numbers
// each: request, state, time, node) and turned into spans, instants and arrows only when the trace
// file is written. Recording is then a few array writes per state change on the path of every
// request; an object per span cost ~10 µs per dependent request, ~15% on the bench.
import {
  FINISHED,
  REQUEST_TRANSITIONS,
  type RequestState,
  type ScheduledRequest,
} from '../scheduler/request.js';
import { type DeferredEvents, micros, type TraceEvent, type TraceTrack, withRoom } from '../trace.js';

const STATES = Object.keys(REQUEST_TRANSITIONS) as RequestState[];
const CODES = new Map(STATES.map((state, code) => [state, code]));
const NONE: readonly ScheduledRequest[] = [];
/** The code of a record that is no state change: the request was started again (restarted, retried). */
const AGAIN = STATES.length;
/** Numbers per log record: the request's sequence number, its new state, when, its node (-1: none). */
const RECORD = 4;

/** One request while the log is replayed: where it is, and what it waited on. */
interface Replay {
  readonly request: ScheduledRequest;
  readonly tid: number;
  readonly label: string;
  state: RequestState | undefined;
  since: number;
  runOn: TraceTrack | undefined;
  /** The requests it waited on since it last ran: arrows into its next run. */
  waited: readonly ScheduledRequest[];
  /** Arrows into the run now open, drawn when it closes (their ends go inside it). */
  into: readonly ScheduledRequest[];
  /** The middle of its last run (µs) on the node track `lastOn`: where arrows from it start. */
  lastOn: TraceTrack | undefined;
  lastAt: number;
}

/**
 * Every request of one scheduler, by its sequence number: a track each in the process `pid`
 * (its states, how it ended, its restarts), its runs on its node's `requests` track, and an arrow
 * from each request's last run to the run of every request that waited on it (declared, or
 * asked for with `ctx.build`).
 */
export class RequestLog implements DeferredEvents {
  readonly #pid: number;
  readonly #nodeTrack: (node: string) => TraceTrack;
  #log = new Float64Array(RECORD * 4096);
  #records = 0;
  readonly #requests: ScheduledRequest[] = [];
  /** What a request asked for when it blocked, by the record of its block (it is reset later). */
  readonly #awaited = new Map<number, readonly ScheduledRequest[]>();
  /** Each start-again's instant (restarted: where it moved; retried: the node lost, and how), by its record. */
  readonly #again = new Map<number, { name: 'restarted' | 'retried'; args: Record<string, unknown> }>();
  readonly #nodes: string[] = [];
  readonly #nodeCodes = new Map<string, number>();

  constructor(pid: number, nodeTrack: (node: string) => TraceTrack) {
    this.#pid = pid;
    this.#nodeTrack = nodeTrack;
  }

  /** A state change (the scheduler's `transition` event), at `now` on the runtime's clock. */
  transition(request: ScheduledRequest, from: RequestState | 'new', to: RequestState, now: number): void {
    if (from === 'new') this.#requests[request.seq] = request;
    let node = -1;
    if (to === 'executing' && request.node !== undefined)
      node = this.#nodeCodes.get(request.node) ?? this.#nodeCode(request.node);
    if (to === 'blocked' && request.awaited !== undefined) this.#awaited.set(this.#records, request.awaited);
    this.#append(request.seq, CODES.get(to)!, now, node);
  }

  /** A restartable request started again from the start (the scheduler's `restarted` event). */
  restarted(request: ScheduledRequest, from: string | undefined, to: string | undefined, now: number): void {
    this.#again.set(this.#records, {
      name: 'restarted',
      args: { ...(from !== undefined && { from }), ...(to !== undefined && { to }) },
    });
    this.#append(request.seq, AGAIN, now, -1);
  }

  /** A request runs again because its node was lost (the scheduler's `retried` event). */
  retried(request: ScheduledRequest, from: string, error: Error, now: number): void {
    this.#again.set(this.#records, {
      name: 'retried',
      args: { from, attempt: request.retries, error: error.message.split('\n')[0] },
    });
    this.#append(request.seq, AGAIN, now, -1);
  }

  #append(seq: number, code: number, now: number, node: number): void {
    const at = this.#records++ * RECORD;
    const log = withRoom(this.#log, at + RECORD);
    this.#log = log;
    log[at] = seq;
    log[at + 1] = code;
    log[at + 2] = now;
    log[at + 3] = node;
  }

  events(flowBase: number, latest: number): TraceEvent[] {
    const events: TraceEvent[] = [];
    const replays = new Map<number, Replay>();
    const log = this.#log;
    let flows = 0;
    let last = latest;
    const span = (replay: Replay, name: string, start: number, end: number): void => {
      const ts = micros(start);
      events.push({ name, ph: 'X', ts, dur: micros(end) - ts, pid: this.#pid, tid: replay.tid });
    };
    for (let record = 0; record < this.#records; record++) {
      const at = record * RECORD;
      const seq = log[at]!;
      const code = log[at + 1]!;
      const now = log[at + 2]!;
      last = Math.max(last, micros(now));
      if (code === AGAIN) {
        const tid = replays.get(seq)?.tid ?? seq + 1;
        const again = this.#again.get(record)!;
        const args = Object.keys(again.args).length > 0 ? { args: again.args } : {};
        events.push({ name: again.name, ph: 'i', s: 't', ts: micros(now), pid: this.#pid, tid, ...args });
        continue;
      }
      const to = STATES[code]!;
      let replay = replays.get(seq);
      if (!replay) {
        const request = this.#requests[seq]!;
        const label = requestLabel(request);
        replay = {
          request,
          tid: seq + 1,
          label,
          state: undefined,
          since: now,
          runOn: undefined,
          waited: request.declared ?? NONE,
          into: NONE,
          lastOn: undefined,
          lastAt: 0,
        };
        replays.set(seq, replay);
        events.push({
          name: 'thread_name',
          ph: 'M',
          ts: 0,
          pid: this.#pid,
          tid: replay.tid,
          args: { name: `${label} · ${request.id}` },
        });
      }
      if (replay.state !== undefined) span(replay, replay.state, replay.since, now);
      if (replay.state === 'executing' && replay.runOn) {
        // The run closes; the arrows into it are drawn now that it has an end to put them in. Each
        // end is the middle of its run: inside it, and inside no neighbour that touches it.
        const ts = micros(replay.since);
        const { pid, tid } = replay.runOn;
        const args = { request: replay.request.id };
        events.push({
          name: replay.label,
          cat: 'request',
          ph: 'X',
          ts,
          dur: micros(now) - ts,
          pid,
          tid,
          args,
        });
        replay.lastOn = replay.runOn;
        replay.lastAt = micros((replay.since + now) / 2);
        replay.runOn = undefined;
        for (const dependency of replay.into) {
          const from = replays.get(dependency.seq);
          if (!from?.lastOn) continue;
          const id = flowBase + ++flows;
          const common = { name: 'waited on', cat: 'flow', id };
          events.push({ ...common, ph: 's', ts: from.lastAt, pid: from.lastOn.pid, tid: from.lastOn.tid });
          events.push({ ...common, ph: 'f', bp: 'e', ts: replay.lastAt, pid, tid });
        }
        replay.into = NONE;
      }
      const awaited = this.#awaited.get(record);
      if (awaited) replay.waited = replay.waited.length === 0 ? awaited : [...replay.waited, ...awaited];
      replay.since = now;
      if (FINISHED.has(to)) {
        replay.state = undefined;
        const error = replay.request.error;
        events.push({
          name: to,
          ph: 'i',
          s: 't',
          ts: micros(now),
          pid: this.#pid,
          tid: replay.tid,
          ...(error !== undefined && { args: { error: error.message.split('\n')[0] } }),
        });
      } else {
        replay.state = to;
        if (to === 'executing') {
          const node = log[at + 3]!;
          replay.runOn = node >= 0 ? this.#nodeTrack(this.#nodes[node]!) : undefined;
          replay.into = replay.waited;
          replay.waited = NONE;
        }
      }
    }
    // Requests not ended yet (a file written before the run ends): their open spans, unfinished.
    for (const replay of replays.values()) {
      if (replay.state === undefined) continue;
      const ts = micros(replay.since);
      const args = { unfinished: true };
      events.push({ name: replay.state, ph: 'X', ts, dur: last - ts, pid: this.#pid, tid: replay.tid, args });
      if (replay.runOn) {
        const { pid, tid } = replay.runOn;
        const run = { request: replay.request.id, unfinished: true };
        events.push({ name: replay.label, cat: 'request', ph: 'X', ts, dur: last - ts, pid, tid, args: run });
      }
    }
    return events;
  }

  #nodeCode(node: string): number {
    const code = this.#nodes.length;
    this.#nodes.push(node);
    this.#nodeCodes.set(node, code);
    // Made now, not when the file is written: the node's tracks come in the order nodes appeared.
    this.#nodeTrack(node);
    return code;
  }
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
