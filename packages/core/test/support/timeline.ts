// What every timeline a runtime records must satisfy, as a list of problems (empty: it holds):
// each request's and node's spans follow each other from their start to a final instant, a node's
// tracks hold one thing at a time (one request, one connection state, one step of its end), the
// end of what ran a node ends with it gone, and each flow arrow starts and ends inside a run.
import type { TraceEvent, TraceFileContents } from '@troupe/core';

type Track = { name: string; spans: TraceEvent[]; instants: TraceEvent[] };

const REQUEST_ENDS = new Set(['completed', 'failed', 'cancelled']);
const CONNECTION_ENDS = new Set(['closed', 'failed']);
const EXIT_TRACKS = new Set(['process', 'thread', 'endpoint']);

/** The tracks of a trace by `pid:tid`, named from its metadata, spans and instants in time order. */
export function tracks(trace: TraceFileContents): Map<string, Track & { process: string }> {
  const processes = new Map<number, string>();
  const names = new Map<string, string>();
  for (const event of trace.traceEvents) {
    if (event.name === 'process_name') processes.set(event.pid, String(event.args?.name));
    if (event.name === 'thread_name') names.set(`${event.pid}:${event.tid}`, String(event.args?.name));
  }
  const byKey = new Map<string, Track & { process: string }>();
  for (const [key, name] of names)
    byKey.set(key, {
      name,
      process: processes.get(Number(key.split(':')[0])) ?? '',
      spans: [],
      instants: [],
    });
  for (const event of trace.traceEvents) {
    const track = byKey.get(`${event.pid}:${event.tid}`);
    if (event.ph === 'X') track?.spans.push(event);
    if (event.ph === 'i') track?.instants.push(event);
  }
  for (const track of byKey.values()) track.spans.sort((a, b) => a.ts - b.ts || a.dur! - b.dur!);
  return byKey;
}

const end = (span: TraceEvent) => span.ts + (span.dur ?? 0);

/** Spans that must follow each other without a gap, from the first to an instant named in `ends`. */
function chain(where: string, track: Track, ends: ReadonlySet<string>, problems: string[]): void {
  const finals = track.instants.filter((instant) => ends.has(instant.name));
  if (finals.length !== 1) problems.push(`${where}: ${finals.length} final instants`);
  for (let index = 1; index < track.spans.length; index++)
    if (track.spans[index]!.ts !== end(track.spans[index - 1]!))
      problems.push(
        `${where}: ${track.spans[index - 1]!.name} ends at ${end(track.spans[index - 1]!)}, ${track.spans[index]!.name} starts at ${track.spans[index]!.ts}`,
      );
  const last = track.spans.at(-1);
  if (last && finals[0] && end(last) !== finals[0].ts)
    problems.push(
      `${where}: the last span ends at ${end(last)}, the ${finals[0].name} instant is at ${finals[0].ts}`,
    );
}

/** Every rule a runtime's timeline keeps; the problems found, empty when it keeps them all. */
export function timelineProblems(trace: TraceFileContents): string[] {
  const problems: string[] = [];
  for (const event of trace.traceEvents)
    if (event.args?.unfinished === true)
      problems.push(`${event.name} on ${event.pid}:${event.tid} never closed`);
  const all = tracks(trace);
  for (const [key, track] of all) {
    const where = `${track.process}/${track.name} (${key})`;
    if (track.process === 'requests') chain(where, track, REQUEST_ENDS, problems);
    if (track.name === 'connection') chain(where, track, CONNECTION_ENDS, problems);
    if (track.process !== 'requests') {
      // A node's tracks hold one thing at a time: one request active on it, one state of its
      // connection, one step of its end.
      for (let index = 1; index < track.spans.length; index++)
        if (track.spans[index]!.ts < end(track.spans[index - 1]!))
          problems.push(`${where}: ${track.spans[index - 1]!.name} and ${track.spans[index]!.name} overlap`);
    }
    if (EXIT_TRACKS.has(track.name)) {
      // The end of what ran a node: the wait, then (if it came to that) the wait after the kill.
      const last = track.spans.at(-1);
      if (!last || !(last.args?.exited === true || last.args?.gone === true))
        problems.push(`${where}: it does not end with the node's end (${last?.name ?? 'no span'})`);
    }
  }
  const flows = new Map<number, TraceEvent[]>();
  for (const event of trace.traceEvents)
    if (event.ph === 's' || event.ph === 'f') flows.set(event.id!, [...(flows.get(event.id!) ?? []), event]);
  for (const [id, ends] of flows) {
    const start = ends.find((event) => event.ph === 's');
    const finish = ends.find((event) => event.ph === 'f');
    if (ends.length !== 2 || !start || !finish) {
      problems.push(`flow ${id}: ${ends.length} ends`);
      continue;
    }
    if (start.ts > finish.ts) problems.push(`flow ${id} goes back in time`);
    for (const point of [start, finish]) {
      const track = all.get(`${point.pid}:${point.tid}`);
      const inside = track?.spans.some(
        (span) => span.cat === 'request' && span.ts <= point.ts && point.ts <= end(span),
      );
      if (!inside)
        problems.push(
          `flow ${id}: its ${point.ph} end at ${point.ts} is in no run on ${point.pid}:${point.tid}`,
        );
    }
  }
  return problems;
}
