// `troupe trace summary FILE`: a trace file a run wrote (trace option, TROUPE_TRACE, --trace),
// summarised for a person. Part of the CLI at the edge: it reads the file and writes stdout.
import { readFile } from 'node:fs/promises';
import type { TraceFileContents } from '../trace.js';
import { summarizeTrace } from '../trace-summary.js';
import { formatTraceSummary } from '../trace-summary-text.js';

const USAGE = 'usage: troupe trace summary FILE [--slowest N]';

/** Runs `troupe trace <args>`; the exit code (2: a mistake in the command line or the file). */
export async function traceCommand(args: string[]): Promise<number> {
  const [sub, file, ...rest] = args;
  if (sub === '--help' || sub === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const slowest = rest[0] === '--slowest' ? Number(rest[1]) : 5;
  const extra = rest[0] === '--slowest' ? rest.slice(2) : rest;
  if (
    sub !== 'summary' ||
    file === undefined ||
    extra.length > 0 ||
    !(Number.isInteger(slowest) && slowest >= 0)
  ) {
    process.stderr.write(`troupe trace: ${USAGE}\n`);
    return 2;
  }
  let trace: TraceFileContents;
  try {
    trace = JSON.parse(await readFile(file, 'utf8')) as TraceFileContents;
    if (!Array.isArray(trace?.traceEvents)) throw new Error('it holds no traceEvents');
  } catch (error) {
    process.stderr.write(`troupe trace: ${file} is not a trace file: ${(error as Error).message}\n`);
    return 2;
  }
  process.stdout.write(`${formatTraceSummary(summarizeTrace(trace, { slowest }))}\n`);
  return 0;
}
