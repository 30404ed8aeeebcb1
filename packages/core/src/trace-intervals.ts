// Time as sets of intervals, for the summary of a run (trace-summary.ts): how long nodes ran
// anything, and how long nothing ran while work remained. Intervals are [start, end) pairs.

/** Intervals as a sorted list that do not overlap. */
export function merge(spans: ReadonlyArray<{ start: number; end: number }>): Array<[number, number]> {
  const sorted = spans.filter((span) => span.end > span.start).sort((a, b) => a.start - b.start);
  const merged: Array<[number, number]> = [];
  for (const { start, end } of sorted) {
    const last = merged.at(-1);
    if (last && start <= last[1]) last[1] = Math.max(last[1], end);
    else merged.push([start, end]);
  }
  return merged;
}

export function clip(intervals: Array<[number, number]>, from: number, to: number): Array<[number, number]> {
  return intervals
    .map(([start, end]): [number, number] => [Math.max(start, from), Math.min(end, to)])
    .filter(([start, end]) => end > start);
}

/** `a` without `b`; both merged. */
export function subtract(a: Array<[number, number]>, b: Array<[number, number]>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const [start, end] of a) {
    let cursor = start;
    for (const [cutStart, cutEnd] of b) {
      if (cutEnd <= cursor || cutStart >= end) continue;
      if (cutStart > cursor) out.push([cursor, cutStart]);
      cursor = Math.max(cursor, cutEnd);
    }
    if (cursor < end) out.push([cursor, end]);
  }
  return out;
}

export function total(intervals: Array<[number, number]>): number {
  return intervals.reduce((sum, [start, end]) => sum + end - start, 0);
}
