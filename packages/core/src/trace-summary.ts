// A run's timeline read back as a person would summarise it: the chain of requests that decided
// how long it took (the critical path, each step with its time), how busy each node was, where
// time went waiting (for a node, on other requests, outside, on node start-up, on nothing at all)
// and the slowest tasks. Pure: it reads the trace-event file a TraceRecorder writes, nothing else,
// so `troupe trace summary FILE` and a runtime's end-of-run summary say the same of the same run.
import type { TraceEvent, TraceFileContents } from './trace.js';
import { clip, merge, subtract, total } from './trace-intervals.js';

/** One request on the critical path: the part of the run's time it accounts for. */
export interface CriticalStep {
  request: string;
  /** Its task and the start of its input, as on its track. */
  label: string;
  /** The step's window (ms on the run's clock): from what it waited on ending, to its own end. */
  startMs: number;
  endMs: number;
  /** Where the step's time went. */
  executingMs: number;
  /** Waiting for a node: `waiting`, `staged`, `ready` and `reacquiring`. */
  queuedMs: number;
  /** Waiting on other requests (`blocked`, `pending`) that are not themselves on the path. */
  blockedMs: number;
  /** Waiting on something outside the runtime (`yielded`). */
  yieldedMs: number;
}

/** One node's share of the run. */
export interface NodeUse {
  node: string;
  kind: string | undefined;
  runs: number;
  /** Time it ran requests, inside the run's window. */
  busyMs: number;
  /** `busyMs` over the run's wall time. */
  utilisation: number;
  /** Its launch (or reuse) and handshake. */
  startupMs: number;
}

/** Where waiting went, over all requests (request-ms) and on the critical path (wall ms). */
export interface TimeLost {
  queuedMs: number;
  blockedMs: number;
  yieldedMs: number;
  /** Every node's launch (or reuse) and handshake, added up (node-ms). */
  startupMs: number;
  /** From the run's start until the first node was ready to run a request. */
  firstNodeMs: number;
  /**
   * Wall time after the first node was ready when requests remained, none ran on any node and
   * none waited outside: the scheduler had work and did not hand it out.
   */
  stalledMs: number;
  /** The scheduler's stall reports (`stall` instants). */
  stalls: number;
  /** The same waits, inside the critical path's steps. */
  critical: { queuedMs: number; blockedMs: number; yieldedMs: number };
}

/** A request by the time it spent executing. */
export interface TaskTime {
  request: string;
  label: string;
  executingMs: number;
  runs: number;
  /** From its submission to its end. */
  totalMs: number;
}

/** What `summarizeTrace` finds in a run's timeline. */
export interface TraceSummary {
  /** The run's window: from the first request submitted to the last one ending (ms). */
  startMs: number;
  endMs: number;
  wallMs: number;
  requests: { total: number; completed: number; failed: number; cancelled: number; unfinished: number };
  /** From the first step to the last request to end. */
  criticalPath: CriticalStep[];
  nodes: NodeUse[];
  lost: TimeLost;
  /** The requests that executed longest, longest first (at most `slowest` of them). */
  slowest: TaskTime[];
}

interface Span {
  readonly name: string;
  readonly start: number;
  readonly end: number;
}

interface Run extends Span {
  readonly track: string;
  readonly request: string;
}

interface RequestLine {
  readonly id: string;
  readonly label: string;
  readonly states: Span[];
  readonly runs: Run[];
  /** The requests that flowed into each of its runs (by the run's index): what it waited on. */
  readonly into: Map<number, Set<string>>;
  /** The requests that waited on it (its arrows' other ends). */
  readonly waiters: RequestLine[];
  end: number | undefined;
  outcome: string | undefined;
}

const FINALS = new Set(['completed', 'failed', 'cancelled']);
const QUEUED = new Set(['waiting', 'staged', 'ready', 'reacquiring']);
const STARTUP = new Set(['launch', 'reuse', 'handshake']);
const ms = (micros: number) => micros / 1000;
const endOf = (event: TraceEvent) => event.ts + (event.dur ?? 0);

/**
 * Summarises a run from its timeline (`recorder.toJSON()`, or a trace file parsed): the critical
 * path, node utilisation, time lost and the `slowest` (default 5) tasks. A file holding several
 * runtimes (TROUPE_TRACE) is summarised as one run.
 */
export function summarizeTrace(trace: TraceFileContents, options: { slowest?: number } = {}): TraceSummary {
  const events = trace.traceEvents;
  const processes = new Map<number, string>();
  const threads = new Map<string, string>();
  for (const event of events) {
    if (event.name === 'process_name') processes.set(event.pid, String(event.args?.name));
    if (event.name === 'thread_name') threads.set(`${event.pid}:${event.tid}`, String(event.args?.name));
  }
  const requestPids = new Set([...processes].filter(([, name]) => name === 'requests').map(([pid]) => pid));
  const lines = new Map<string, RequestLine>();
  for (const [key, name] of threads) {
    if (!requestPids.has(Number(key.split(':')[0]))) continue;
    const cut = name.lastIndexOf(' · ');
    const id = cut < 0 ? name : name.slice(cut + 3);
    const label = cut < 0 ? name : name.slice(0, cut);
    lines.set(key, {
      id,
      label,
      states: [],
      runs: [],
      into: new Map(),
      waiters: [],
      end: undefined,
      outcome: undefined,
    });
  }
  const byId = new Map([...lines.values()].map((line) => [line.id, line]));
  const connections = new Map<number, { startup: number; ready: number | undefined; kind?: string }>();
  for (const [key, name] of threads)
    if (name === 'connection') connections.set(Number(key.split(':')[0]), { startup: 0, ready: undefined });
  const runsOn = new Map<string, Run[]>();
  let stalls = 0;
  for (const event of events) {
    const key = `${event.pid}:${event.tid}`;
    const line = lines.get(key);
    if (line && event.ph === 'X') line.states.push({ name: event.name, start: event.ts, end: endOf(event) });
    if (line && event.ph === 'i' && FINALS.has(event.name)) {
      line.end = event.ts;
      line.outcome = event.name;
    }
    if (event.ph === 'X' && event.cat === 'request' && typeof event.args?.request === 'string') {
      const run = {
        name: event.name,
        start: event.ts,
        end: endOf(event),
        track: key,
        request: event.args.request,
      };
      byId.get(run.request)?.runs.push(run);
      const on = runsOn.get(key);
      if (on) on.push(run);
      else runsOn.set(key, [run]);
    }
    const node = connections.get(event.pid);
    if (node && threads.get(key) === 'connection') {
      if (event.ph === 'X' && STARTUP.has(event.name)) node.startup += event.dur ?? 0;
      if (event.ph === 'X' && event.name === 'launch') node.kind ??= event.args?.kind as string | undefined;
      const ready =
        (event.ph === 'i' && event.name === 'accepted') ||
        (event.ph === 'X' && (event.name === 'idle' || event.name === 'busy'));
      if (ready && (node.ready === undefined || event.ts < node.ready)) node.ready = event.ts;
    }
    if (event.ph === 'i' && event.name === 'stall') stalls++;
  }
  for (const line of lines.values()) {
    line.states.sort((a, b) => a.start - b.start || a.end - b.end);
    line.runs.sort((a, b) => a.start - b.start);
  }
  linkFlows(events, runsOn, byId);

  const all = [...lines.values()];
  // Loops, not Math.min(...spread): a long run's requests would overflow the call's arguments.
  let start = Number.POSITIVE_INFINITY;
  let end = Number.NEGATIVE_INFINITY;
  for (const line of all) {
    start = Math.min(start, line.states[0]?.start ?? Number.POSITIVE_INFINITY);
    end = Math.max(end, line.end ?? line.states.at(-1)?.end ?? Number.NEGATIVE_INFINITY);
  }
  const wall = all.length === 0 ? 0 : Math.max(0, end - start);
  const from = all.length === 0 ? 0 : start;

  const readyTimes = [...connections.values()].flatMap((node) =>
    node.ready === undefined ? [] : [node.ready],
  );
  const firstReady = readyTimes.length === 0 ? from : Math.max(from, Math.min(...readyTimes));
  const nodes: NodeUse[] = [...connections].map(([pid, node]) => {
    const runs = [...runsOn].filter(([key]) => Number(key.split(':')[0]) === pid).flatMap(([, list]) => list);
    const busy = total(clip(merge(runs), from, from + wall));
    return {
      node: processes.get(pid) ?? String(pid),
      kind: node.kind,
      runs: runs.length,
      busyMs: ms(busy),
      utilisation: wall === 0 ? 0 : busy / wall,
      startupMs: ms(node.startup),
    };
  });

  // Nothing ran, nothing waited outside, yet requests remained: time the scheduler let go by.
  const alive = merge(all.map((line) => ({ start: line.states[0]?.start ?? 0, end: line.end ?? end })));
  const excused = merge([
    ...[...runsOn.values()].flat(),
    ...all.flatMap((line) => line.states.filter((state) => state.name === 'yielded')),
  ]);
  const stalled = total(subtract(clip(alive, firstReady, end), excused));

  const spent = (line: RequestLine, names: ReadonlySet<string>) =>
    line.states.reduce((sum, state) => sum + (names.has(state.name) ? state.end - state.start : 0), 0);
  const path = criticalPath(all, byId);
  const sum = (pick: (step: CriticalStep) => number) => path.reduce((acc, step) => acc + pick(step), 0);
  const slowest = all
    .map((line) => ({
      request: line.id,
      label: line.label,
      executingMs: ms(spent(line, new Set(['executing']))),
      runs: line.runs.length,
      totalMs: ms((line.end ?? end) - (line.states[0]?.start ?? from)),
    }))
    .sort((a, b) => b.executingMs - a.executingMs || a.label.localeCompare(b.label))
    .slice(0, options.slowest ?? 5);
  const count = (outcome: string | undefined) => all.filter((line) => line.outcome === outcome).length;
  return {
    startMs: ms(from),
    endMs: ms(from + wall),
    wallMs: ms(wall),
    requests: {
      total: all.length,
      completed: count('completed'),
      failed: count('failed'),
      cancelled: count('cancelled'),
      unfinished: count(undefined),
    },
    criticalPath: path,
    nodes,
    lost: {
      queuedMs: ms(all.reduce((acc, line) => acc + spent(line, QUEUED), 0)),
      blockedMs: ms(all.reduce((acc, line) => acc + spent(line, new Set(['blocked', 'pending'])), 0)),
      yieldedMs: ms(all.reduce((acc, line) => acc + spent(line, new Set(['yielded'])), 0)),
      startupMs: ms([...connections.values()].reduce((acc, node) => acc + node.startup, 0)),
      firstNodeMs: ms(firstReady - from),
      stalledMs: ms(stalled),
      stalls,
      critical: {
        queuedMs: sum((step) => step.queuedMs),
        blockedMs: sum((step) => step.blockedMs),
        yieldedMs: sum((step) => step.yieldedMs),
      },
    },
    slowest,
  };
}

/** Each flow arrow, from the run it starts in to the run it ends in: what each run waited on. */
function linkFlows(events: TraceEvent[], runsOn: Map<string, Run[]>, byId: Map<string, RequestLine>): void {
  const starts = new Map<number, TraceEvent>();
  for (const event of events) {
    if (event.ph === 's' && event.id !== undefined) starts.set(event.id, event);
    if (event.ph !== 'f' || event.id === undefined) continue;
    const from = starts.get(event.id);
    const source = from && runAt(runsOn, from);
    const target = runAt(runsOn, event);
    const line = target && byId.get(target.request);
    if (!source || !line) continue;
    const index = line.runs.indexOf(target);
    line.into.set(index, (line.into.get(index) ?? new Set()).add(source.request));
    byId.get(source.request)?.waiters.push(line);
  }
}

/** The run an arrow's end is in: arrows end in the middle of their run, which may touch others. */
function runAt(runsOn: Map<string, Run[]>, point: TraceEvent): Run | undefined {
  let best: Run | undefined;
  for (const run of runsOn.get(`${point.pid}:${point.tid}`) ?? []) {
    if (run.start > point.ts || point.ts > run.end) continue;
    const off = (run: Run) => Math.abs((run.start + run.end) / 2 - point.ts);
    if (!best || off(run) < off(best)) best = run;
  }
  return best;
}

/**
 * Walks back from the last request to end. Inside a request, time goes to its step until it was
 * waiting on requests (pending, or blocked before a run): the path then goes to the one of those
 * that ended last, at its end. At a request's own start, if it was asked for by a task that then
 * blocked on it (`ctx.build`), the path goes on in the asker, at the ask (`askerOf`).
 */
function criticalPath(all: RequestLine[], byId: Map<string, RequestLine>): CriticalStep[] {
  const steps: CriticalStep[] = [];
  let current = all.reduce<RequestLine | undefined>(
    (last, line) => (line.end !== undefined && (!last || line.end > last.end!) ? line : last),
    undefined,
  );
  let at = current?.end ?? 0;
  let asked = false;
  const limit = all.reduce((acc, line) => acc + line.states.length, 1);
  while (current && steps.length < limit) {
    const line: RequestLine = current;
    const step: CriticalStep = {
      request: line.id,
      label: line.label,
      startMs: 0,
      endMs: ms(at),
      executingMs: 0,
      queuedMs: 0,
      blockedMs: 0,
      yieldedMs: 0,
    };
    let next: { line: RequestLine; at: number; asked: boolean } | undefined;
    let begin = line.states[0]?.start ?? at;
    for (let index = line.states.length - 1; index >= 0; index--) {
      const state = line.states[index]!;
      if (state.start > at || (state.start === at && state.end > at)) continue;
      if (state.name === 'pending' || state.name === 'blocked') {
        // Entered from a request this one asked for: the block that request ended is behind us.
        const behind = asked && state.name === 'blocked' && state.end >= at;
        const waitedOn = behind ? undefined : lastEnded(line, state, byId);
        if (waitedOn) {
          begin = state.end;
          next = { line: waitedOn, at: waitedOn.end!, asked: false };
          break;
        }
      }
      const time = ms(Math.min(state.end, at) - state.start);
      if (state.name === 'executing') step.executingMs += time;
      else if (QUEUED.has(state.name)) step.queuedMs += time;
      else if (state.name === 'yielded') step.yieldedMs += time;
      else step.blockedMs += time;
    }
    if (!next) {
      const asker = askerOf(line, begin);
      if (asker) next = { line: asker, at: begin, asked: true };
    }
    step.startMs = ms(begin);
    steps.push(step);
    current = next?.line;
    at = next?.at ?? 0;
    asked = next?.asked ?? false;
  }
  return steps.reverse();
}

/**
 * The request whose task asked for `line` (`ctx.build`), submitted at `begin`: one that waited on
 * it and was running or already blocked then. A task's ask is submitted while it still runs, and
 * its own request shows as blocked a moment later (once its node has said so, in real time), so of
 * several such waiters the asker is the one whose block came soonest after `begin`.
 */
function askerOf(line: RequestLine, begin: number): RequestLine | undefined {
  let asker: RequestLine | undefined;
  let soonest = Number.POSITIVE_INFINITY;
  for (const other of line.waiters) {
    const at = other.states.findIndex(
      (state) =>
        (state.name === 'executing' || state.name === 'blocked') &&
        state.start <= begin &&
        begin <= state.end,
    );
    if (at < 0) continue;
    const block = other.states.slice(at).find((state) => state.name === 'blocked');
    if (!block) continue;
    const after = Math.max(0, block.start - begin);
    if (after < soonest) {
      soonest = after;
      asker = other;
    }
  }
  return asker;
}

/**
 * Of the requests that flowed into the run after `wait`, the one that ended last by its end, among
 * those that ended during the wait: one that had ended before it began (a task that asked for a
 * finished request blocks for no time) held nothing up, and the path stays in this request.
 */
function lastEnded(line: RequestLine, wait: Span, byId: Map<string, RequestLine>): RequestLine | undefined {
  const run = line.runs.findIndex((candidate) => candidate.start >= wait.end);
  let last: RequestLine | undefined;
  for (const id of line.into.get(run) ?? []) {
    const other = byId.get(id);
    if (other?.end === undefined || other.end > wait.end || other.end < wait.start) continue;
    if (!last || other.end > last.end!) last = other;
  }
  return last;
}
