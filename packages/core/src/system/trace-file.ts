// Where a timeline goes: the file a runtime or job dispatcher writes when it shuts down, and the
// TROUPE_TRACE environment variable, and the end-of-run summary on stderr. The one place a trace
// touches the OS (node:fs, stderr, the environment, the process's exit), kept at the edge: the
// recorders themselves are pure data.
import { writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { invalid, type Rule } from '../options.js';
import { TraceRecorder } from '../trace.js';
import { summarizeTrace, type TraceSummary } from '../trace-summary.js';
import { formatTraceSummary } from '../trace-summary-text.js';

/** A `summary` option: `true` writes it to stderr, a function of the user's is given it. */
export type SummaryOption = boolean | ((text: string, summary: TraceSummary) => void) | undefined;

/** What records a run's timeline, and how it is saved when the run ends. */
export interface TraceTarget {
  readonly recorder: TraceRecorder;
  /** Saves what was recorded so far (the file, if there is one); the owner's run is over. */
  end(): Promise<void>;
}

/**
 * A trace file: written whole each time one of its runs ends, and once more, synchronously, when
 * the process exits while a run that records into it has not ended (a crash, an exit without
 * shutdown), so a run that fails still leaves its timeline.
 */
class TraceFile {
  readonly path: string;
  readonly recorder = new TraceRecorder();
  /** Runs recording into it and not yet ended. */
  #running = 0;
  /** Writes one at a time, in order: the last one has everything. */
  #writing: Promise<void> = Promise.resolve();

  constructor(path: string) {
    this.path = resolve(path);
  }

  target(): TraceTarget {
    if (this.#running++ === 0) process.on('exit', this.#atExit);
    let ended = false;
    return {
      recorder: this.recorder,
      end: () => {
        if (!ended) {
          ended = true;
          if (--this.#running === 0) process.off('exit', this.#atExit);
        }
        this.#writing = this.#writing.then(() => writeFile(this.path, JSON.stringify(this.recorder)));
        return this.#writing;
      },
    };
  }

  readonly #atExit = (): void => {
    writeFileSync(this.path, JSON.stringify(this.recorder));
  };
}

/** TROUPE_TRACE's file: every runtime and dispatcher of the process records into this one. */
let fromEnvironment: TraceFile | undefined;

/**
 * The target for a `trace` option: a recorder of the caller's (saved by the caller), a file path
 * (written when the run ends), nothing (`false`), or, when the option is left out, `TROUPE_TRACE`'s file if that is
 * set: one file per process, with every runtime and job dispatcher of the process on it.
 */
export function traceTarget(
  option: string | TraceRecorder | false | undefined,
  summary?: SummaryOption,
): TraceTarget | undefined {
  const target = recordingTarget(option);
  if (summary === undefined || summary === false) return target;
  const { recorder, end } = target ?? { recorder: new TraceRecorder(), end: () => Promise.resolve() };
  const report = summary === true ? (text: string) => process.stderr.write(`${text}\n`) : summary;
  return {
    recorder,
    end: async () => {
      try {
        const figures = summarizeTrace(recorder.toJSON());
        report(formatTraceSummary(figures), figures);
      } finally {
        await end();
      }
    },
  };
}

function recordingTarget(option: string | TraceRecorder | false | undefined): TraceTarget | undefined {
  if (option === false) return undefined;
  if (option instanceof TraceRecorder) return { recorder: option, end: () => Promise.resolve() };
  if (typeof option === 'string') return new TraceFile(option).target();
  const path = process.env.TROUPE_TRACE;
  if (path === undefined || path === '') return undefined;
  if (fromEnvironment?.path !== resolve(path)) fromEnvironment = new TraceFile(path);
  return fromEnvironment.target();
}

/** The rule for a `trace` option: a file path, a `TraceRecorder`, or `false`. */
export const traceOption: Rule = (value, path) => {
  if (value === false || value instanceof TraceRecorder || (typeof value === 'string' && value !== ''))
    return;
  throw invalid(path, 'a file path, a TraceRecorder or false', value);
};

/** The rule for a `summary` option: a boolean or a function. */
export const summaryOption: Rule = (value, path) => {
  if (typeof value === 'boolean' || typeof value === 'function') return;
  throw invalid(path, 'true, false or a function', value);
};
