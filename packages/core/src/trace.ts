// The timeline of a run as Chrome trace events (Perfetto, chrome://tracing open it): processes and
// threads as tracks, spans, instants and flow arrows. Pure data: times come in as readings of the
// owner's injected clock (ms), and the file is written at the edge (system/trace-file.ts).

/** One Chrome trace event, as written to the file (`ts` and `dur` in microseconds). */
export interface TraceEvent {
  name: string;
  /** X: a span; i: an instant; s/f: a flow arrow's two ends; M: a track's name or place. */
  ph: 'X' | 'i' | 's' | 'f' | 'M';
  ts: number;
  pid: number;
  tid: number;
  dur?: number;
  cat?: string;
  /** A flow arrow's id, the same at both ends. */
  id?: number;
  /** A flow's end binds to the span around it ('e'), not the next one. */
  bp?: 'e';
  /** An instant's scope: its thread. */
  s?: 't';
  args?: Record<string, unknown>;
}

/**
 * A part of the timeline its owner keeps compactly and turns into events only when the file is
 * written: what happens per request, where recording must cost next to nothing.
 */
export interface DeferredEvents {
  /**
   * The events so far. Flow ids are `flowBase + n` (n ≥ 1); a span still open ends at the latest
   * time recorded (`latest`, µs, or later in these events), with `args.unfinished: true`.
   */
  events(flowBase: number, latest: number): TraceEvent[];
}

/** What the file holds: the JSON object format of the trace-event spec. */
export interface TraceFileContents {
  traceEvents: TraceEvent[];
  displayTimeUnit: 'ms';
}

/**
 * Where a recorder's tracks put their events: the recorder's own, given to the processes, tracks
 * and spans it makes and to no one else (so `TraceRecorder`'s public face is what a user needs).
 */
export interface EventSink {
  /** Appends an event; `dur` -1 and `id` 0 for none. */
  add(
    name: string,
    ph: TraceEvent['ph'],
    cat: string | undefined,
    ts: number,
    dur: number,
    pid: number,
    tid: number,
    id: number,
    args: Record<string, unknown> | undefined,
  ): void;
  /** Spans opened and not yet closed. */
  readonly open: Set<OpenSpan>;
}

let deferTo!: (recorder: TraceRecorder, source: DeferredEvents) => void;

/** Has `recorder` ask `source` for its events whenever the file is written (`DeferredEvents`). */
export function deferEvents(recorder: TraceRecorder, source: DeferredEvents): void {
  deferTo(recorder, source);
}

/** A clock reading (ms) as a trace timestamp (µs): whole microseconds, so equal readings stay equal. */
/** `numbers` if it has room for `length` of them, else a copy twice as long (or more): records appended as plain numbers. */
export function withRoom(numbers: Float64Array<ArrayBuffer>, length: number): Float64Array<ArrayBuffer> {
  if (length <= numbers.length) return numbers;
  const grown = new Float64Array(Math.max(length, numbers.length * 2));
  grown.set(numbers);
  return grown;
}

export function micros(ms: number): number {
  return Math.round(ms * 1000);
}

/**
 * Records a timeline. `createRuntime({ trace })` and `new JobDispatcher({ trace })` record into
 * one (theirs, or yours when you pass it), and you may add tracks of your own:
 *
 *     const steps = recorder.process('my build').thread('steps');
 *     steps.span('configure', startMs, endMs);
 *
 * Times are readings of the clock the run uses (`clock.now()`, in ms). `toJSON()` is the file's
 * contents; a span still open then is written as ending at the latest time recorded, with
 * `args.unfinished: true`.
 */
export class TraceRecorder {
  // Events are kept as columns, turned into objects only when the file is written: a request
  // records a dozen events, and an object each was most of what recording cost (its allocation
  // and collection) on the dependent-request bench.
  readonly #names: string[] = [];
  readonly #phases: TraceEvent['ph'][] = [];
  readonly #cats: Array<string | undefined> = [];
  /**
   * ts, dur (-1: none), pid, tid, flow id (0: none): five numbers per event, in a typed array that
   * doubles when full (a plain array of millions of numbers is scanned by every major collection).
   */
  #numbers = new Float64Array(5 * 1024);
  readonly #args: Array<Record<string, unknown> | undefined> = [];
  readonly #open = new Set<OpenSpan>();
  readonly #deferred: DeferredEvents[] = [];
  #pids = 0;
  #flows = 0;
  #latest = 0;
  readonly #sink: EventSink = {
    add: (name, ph, cat, ts, dur, pid, tid, id, args) =>
      this.#add(name, ph, cat, ts, dur, pid, tid, id, args),
    open: this.#open,
  };

  static {
    deferTo = (recorder, source) => {
      recorder.#deferred.push(source);
    };
  }

  /** A new process (a group of tracks), shown in the order processes were made. */
  process(name: string): TraceProcess {
    const pid = ++this.#pids;
    this.#add('process_name', 'M', undefined, 0, -1, pid, 0, 0, { name });
    this.#add('process_sort_index', 'M', undefined, 0, -1, pid, 0, 0, { sort_index: pid });
    return new TraceProcess(this.#sink, pid);
  }

  /** An arrow from `from` at `fromMs` to `to` at `toMs`: each end must fall inside a span of its track. */
  flow(name: string, from: TraceTrack, fromMs: number, to: TraceTrack, toMs: number): void {
    const id = ++this.#flows;
    this.#add(name, 's', 'flow', micros(fromMs), -1, from.pid, from.tid, id, undefined);
    this.#add(name, 'f', 'flow', micros(toMs), -1, to.pid, to.tid, id, undefined);
  }

  /** The file's contents; spans still open end at the latest time recorded, marked unfinished. */
  toJSON(): TraceFileContents {
    const events: TraceEvent[] = [];
    const numbers = this.#numbers;
    for (let index = 0; index < this.#names.length; index++) {
      const at = index * 5;
      const ph = this.#phases[index]!;
      const cat = this.#cats[index];
      const dur = numbers[at + 1]!;
      const id = numbers[at + 4]!;
      const args = this.#args[index];
      events.push({
        name: this.#names[index]!,
        ...(cat !== undefined && { cat }),
        ph,
        ts: numbers[at]!,
        ...(dur >= 0 && { dur }),
        pid: numbers[at + 2]!,
        tid: numbers[at + 3]!,
        ...(id > 0 && { id }),
        ...(ph === 'f' && { bp: 'e' as const }),
        ...(ph === 'i' && { s: 't' as const }),
        ...(args !== undefined && { args }),
      });
    }
    let latest = this.#latest;
    this.#deferred.forEach((source, index) => {
      for (const event of source.events((index + 1) * 2 ** 32, this.#latest)) {
        events.push(event);
        latest = Math.max(latest, event.ts + (event.dur ?? 0));
      }
    });
    for (const span of this.#open) {
      const ts = micros(span.startMs);
      events.push({
        name: span.name,
        ...(span.cat !== undefined && { cat: span.cat }),
        ph: 'X',
        ts,
        dur: Math.max(0, latest - ts),
        pid: span.track.pid,
        tid: span.track.tid,
        args: { ...span.args, unfinished: true },
      });
    }
    return { traceEvents: events, displayTimeUnit: 'ms' };
  }

  #add(
    name: string,
    ph: TraceEvent['ph'],
    cat: string | undefined,
    ts: number,
    dur: number,
    pid: number,
    tid: number,
    id: number,
    args: Record<string, unknown> | undefined,
  ): void {
    const at = this.#names.length * 5;
    const numbers = withRoom(this.#numbers, at + 5);
    this.#numbers = numbers;
    numbers[at] = ts;
    numbers[at + 1] = dur;
    numbers[at + 2] = pid;
    numbers[at + 3] = tid;
    numbers[at + 4] = id;
    this.#names.push(name);
    this.#phases.push(ph);
    this.#cats.push(cat);
    this.#args.push(args);
    const end = dur > 0 ? ts + dur : ts;
    if (end > this.#latest) this.#latest = end;
  }
}

/** A group of tracks: a node, the requests of a runtime, a job slot. */
export class TraceProcess {
  readonly #sink: EventSink;
  readonly pid: number;
  #tids = 0;

  constructor(sink: EventSink, pid: number) {
    this.#sink = sink;
    this.pid = pid;
  }

  /** A new track in this process; Perfetto and chrome://tracing show a process's tracks by name. */
  thread(name: string): TraceTrack {
    const tid = ++this.#tids;
    this.#sink.add('thread_name', 'M', undefined, 0, -1, this.pid, tid, 0, { name });
    return new TraceTrack(this.#sink, this.pid, tid);
  }
}

/** One row of the timeline: spans on it must nest or follow each other, never cross. */
export class TraceTrack {
  readonly #sink: EventSink;
  readonly pid: number;
  readonly tid: number;

  constructor(sink: EventSink, pid: number, tid: number) {
    this.#sink = sink;
    this.pid = pid;
    this.tid = tid;
  }

  /** A span from `startMs` to `endMs`. */
  span(name: string, startMs: number, endMs: number, args?: Record<string, unknown>, cat?: string): void {
    const ts = micros(startMs);
    this.#sink.add(name, 'X', cat, ts, Math.max(0, micros(endMs) - ts), this.pid, this.tid, 0, args);
  }

  /** A span that starts now and ends when it is closed (or, left open, when the file is written). */
  open(name: string, startMs: number, args?: Record<string, unknown>, cat?: string): OpenSpan {
    const span = new OpenSpan(this, name, startMs, args, cat);
    this.#sink.open.add(span);
    return span;
  }

  /** A moment on this track. */
  instant(name: string, atMs: number, args?: Record<string, unknown>, cat?: string): void {
    this.#sink.add(name, 'i', cat, micros(atMs), -1, this.pid, this.tid, 0, args);
  }

  /** Called by a span of this track as it closes. */
  forget(span: OpenSpan): void {
    this.#sink.open.delete(span);
  }
}

/** A span still going on (`TraceTrack.open`): closed once, with what was learnt meanwhile. */
export class OpenSpan {
  readonly track: TraceTrack;
  readonly name: string;
  readonly startMs: number;
  readonly args: Record<string, unknown> | undefined;
  readonly cat: string | undefined;
  #closed = false;

  constructor(
    track: TraceTrack,
    name: string,
    startMs: number,
    args: Record<string, unknown> | undefined,
    cat: string | undefined,
  ) {
    this.track = track;
    this.name = name;
    this.startMs = startMs;
    this.args = args;
    this.cat = cat;
  }

  /** Ends the span at `endMs` (later calls do nothing), with `args` added to those it opened with. */
  close(endMs: number, args?: Record<string, unknown>): void {
    if (this.#closed) return;
    this.#closed = true;
    this.track.forget(this);
    const merged = args === undefined ? this.args : { ...this.args, ...args };
    this.track.span(this.name, this.startMs, endMs, merged, this.cat);
  }
}
