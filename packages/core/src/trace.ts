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

/** What the file holds: the JSON object format of the trace-event spec. */
export interface TraceFileContents {
  traceEvents: TraceEvent[];
  displayTimeUnit: 'ms';
}

/** A clock reading (ms) as a trace timestamp (µs): whole microseconds, so equal readings stay equal. */
function micros(ms: number): number {
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
  readonly #events: TraceEvent[] = [];
  readonly #open = new Set<OpenSpan>();
  #pids = 0;
  #flows = 0;
  #latest = 0;

  /** A new process (a group of tracks), shown in the order processes were made. */
  process(name: string): TraceProcess {
    const pid = ++this.#pids;
    this.#meta('process_name', pid, 0, { name });
    this.#meta('process_sort_index', pid, 0, { sort_index: pid });
    return new TraceProcess(this, pid);
  }

  /** An arrow from `from` at `fromMs` to `to` at `toMs`: each end must fall inside a span of its track. */
  flow(name: string, from: TraceTrack, fromMs: number, to: TraceTrack, toMs: number): void {
    const id = ++this.#flows;
    this.add({ name, cat: 'flow', ph: 's', id, ts: micros(fromMs), pid: from.pid, tid: from.tid });
    this.add({ name, cat: 'flow', ph: 'f', bp: 'e', id, ts: micros(toMs), pid: to.pid, tid: to.tid });
  }

  /** The file's contents; spans still open end at the latest time recorded, marked unfinished. */
  toJSON(): TraceFileContents {
    const unfinished: TraceEvent[] = [];
    for (const span of this.#open) {
      const ts = micros(span.startMs);
      unfinished.push({
        ...span.event(ts),
        dur: Math.max(0, this.#latest - ts),
        args: { ...span.args, unfinished: true },
      });
    }
    return { traceEvents: [...this.#events, ...unfinished], displayTimeUnit: 'ms' };
  }

  /** @internal Appends an event (tracks and spans call this). */
  add(event: TraceEvent): void {
    this.#events.push(event);
    const end = event.ts + (event.dur ?? 0);
    if (end > this.#latest) this.#latest = end;
  }

  /** @internal Spans opened and not yet closed. */
  get open(): Set<OpenSpan> {
    return this.#open;
  }

  #meta(name: string, pid: number, tid: number, args: Record<string, unknown>): void {
    this.#events.push({ name, ph: 'M', ts: 0, pid, tid, args });
  }

  /** @internal A thread's name and place. */
  meta(name: string, pid: number, tid: number, args: Record<string, unknown>): void {
    this.#meta(name, pid, tid, args);
  }
}

/** A group of tracks: a node, the requests of a runtime, a job slot. */
export class TraceProcess {
  readonly #recorder: TraceRecorder;
  readonly pid: number;
  #tids = 0;

  constructor(recorder: TraceRecorder, pid: number) {
    this.#recorder = recorder;
    this.pid = pid;
  }

  /** A new track in this process, shown in the order its tracks were made. */
  thread(name: string): TraceTrack {
    const tid = ++this.#tids;
    this.#recorder.meta('thread_name', this.pid, tid, { name });
    this.#recorder.meta('thread_sort_index', this.pid, tid, { sort_index: tid });
    return new TraceTrack(this.#recorder, this.pid, tid);
  }
}

/** One row of the timeline: spans on it must nest or follow each other, never cross. */
export class TraceTrack {
  readonly #recorder: TraceRecorder;
  readonly pid: number;
  readonly tid: number;

  constructor(recorder: TraceRecorder, pid: number, tid: number) {
    this.#recorder = recorder;
    this.pid = pid;
    this.tid = tid;
  }

  /** A span from `startMs` to `endMs`. */
  span(name: string, startMs: number, endMs: number, args?: Record<string, unknown>, cat?: string): void {
    const ts = micros(startMs);
    this.#recorder.add({
      name,
      ...(cat !== undefined && { cat }),
      ph: 'X',
      ts,
      dur: Math.max(0, micros(endMs) - ts),
      pid: this.pid,
      tid: this.tid,
      ...(args !== undefined && { args }),
    });
  }

  /** A span that starts now and ends when it is closed (or, left open, when the file is written). */
  open(name: string, startMs: number, args?: Record<string, unknown>, cat?: string): OpenSpan {
    const span = new OpenSpan(this, name, startMs, args, cat);
    this.#recorder.open.add(span);
    return span;
  }

  /** A moment on this track. */
  instant(name: string, atMs: number, args?: Record<string, unknown>, cat?: string): void {
    this.#recorder.add({
      name,
      ...(cat !== undefined && { cat }),
      ph: 'i',
      s: 't',
      ts: micros(atMs),
      pid: this.pid,
      tid: this.tid,
      ...(args !== undefined && { args }),
    });
  }

  /** @internal */
  forget(span: OpenSpan): void {
    this.#recorder.open.delete(span);
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

  /** @internal The span as an event from `ts`, for one written while open. */
  event(ts: number): TraceEvent {
    return {
      name: this.name,
      ...(this.cat !== undefined && { cat: this.cat }),
      ph: 'X',
      ts,
      pid: this.track.pid,
      tid: this.track.tid,
    };
  }
}
