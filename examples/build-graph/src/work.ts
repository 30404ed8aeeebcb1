// A project's simulated work, in its own module with no imports: the example's tasks spin with
// it, and so does the bench's floor (bench/workers/floor-node.mjs), a bare node with nothing of
// troupe, so the two do the same work.

/**
 * How fast this thread spins with a core to itself, in clock reads per millisecond: the median of
 * the last 32 quarter-milliseconds it spun. A quarter in which the thread waited for a core (it
 * shares one with another busy thread) reads far slower, but those are few (one per wait), and so
 * are the slow quarters before the JIT optimised the loop: the median is neither. Not the fastest
 * quarter: this machine's speed wanders by 10–15%, and the fastest would make work run long.
 */
const QUARTERS = 32;
const quarters = new Float64Array(QUARTERS);
const sorted = new Float64Array(QUARTERS);
let measured = 0;
let turnsPerMs = 0;

function measure(rate: number): void {
  quarters[measured % QUARTERS] = rate;
  measured++;
  const known = Math.min(measured, QUARTERS);
  sorted.set(quarters);
  const view = sorted.subarray(0, known).sort();
  turnsPerMs = view[known >> 1] ?? 0;
}

/**
 * Busy on purpose, as a compiler keeps its node busy: reads the clock until `ms` of wall time
 * have passed and it has read it `ms` × its full speed times. So the work is `ms` of CPU, and takes
 * longer on a core shared with another busy thread.
 */
export function spin(ms: number): void {
  const start = performance.now();
  const end = start + ms;
  let turns = 0;
  let quarter = start;
  let quarterTurns = 0;
  for (;;) {
    const now = performance.now();
    turns++;
    quarterTurns++;
    if (now - quarter >= 0.25) {
      measure(quarterTurns / (now - quarter));
      quarter = now;
      quarterTurns = 0;
    }
    if (now >= end && turns >= ms * turnsPerMs) return;
  }
}
