import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { type BuildOptions, buildGraph } from './build.js';

const USAGE = `usage: npm start -- [options]     (examples/build-graph)
  --projects N        projects to generate (default 800)
  --nodes N           nodes (default 16)
  --kind K            inproc | thread | process (default thread)
  --reuse / --no-reuse  leave process nodes idle for the next run (default: no reuse)
  --work-ms MS        average simulated CPU work per project (default 5)
  --graph FILE        {"tasks":[{"id":"a","cost":5,"deps":["b"]}]} instead of a generated graph
  --mode M            dispatcher (one worker per node, fed by a dispatcher) | requests (default requests)
  --no-yield          dispatcher mode: workers wait without yielding their node (deadlocks)
  --simulate          virtual clock, in-process nodes, costs as virtual ms: deterministic and instant
  --trace FILE        Chrome trace-event JSON, one track per node (open in Perfetto)
  --json              one final JSON line: built, failed, verified, mismatched, lostNodes,
                      makespanMs, lowerBoundMs, ratio, and error when not every project was built`;

function number(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0)
    throw new Error(`--${name} must be a positive number, not ${value}`);
  return parsed;
}

function oneOf<T extends string>(
  name: string,
  value: string | undefined,
  allowed: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T))
    throw new Error(`--${name} must be one of ${allowed.join(', ')}, not ${value}`);
  return value as T;
}

/** Exit codes of a run stopped by a signal, as a shell reports them (128 + the signal's number). */
const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;

/**
 * Ctrl-C (SIGINT) or SIGTERM stops the build instead of killing the process: unfinished projects
 * are cancelled, the runtime shuts its nodes down, the temp directory goes, and the summary is
 * printed, marked interrupted. A second signal leaves at once.
 */
function interruptions(): {
  signal: AbortSignal;
  received: () => keyof typeof SIGNAL_EXIT_CODES | undefined;
} {
  const controller = new AbortController();
  let received: keyof typeof SIGNAL_EXIT_CODES | undefined;
  for (const name of ['SIGINT', 'SIGTERM'] as const) {
    process.on(name, () => {
      if (received) process.exit(SIGNAL_EXIT_CODES[name]);
      received = name;
      controller.abort(new Error(`interrupted by ${name}`));
    });
  }
  return { signal: controller.signal, received: () => received };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      projects: { type: 'string' },
      nodes: { type: 'string' },
      kind: { type: 'string' },
      reuse: { type: 'boolean' },
      'no-reuse': { type: 'boolean' },
      'work-ms': { type: 'string' },
      graph: { type: 'string' },
      mode: { type: 'string' },
      'no-yield': { type: 'boolean' },
      simulate: { type: 'boolean' },
      trace: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const interrupt = interruptions();
  const tty = process.stderr.isTTY && !values.json;
  let lastShown = -1;
  const options: BuildOptions = {
    projects: Math.round(number('projects', values.projects, 800)),
    nodes: Math.round(number('nodes', values.nodes, 16)),
    kind: oneOf('kind', values.kind, ['inproc', 'thread', 'process'] as const, 'thread'),
    reuse: Boolean(values.reuse) && !values['no-reuse'],
    workMs: number('work-ms', values['work-ms'], 5),
    mode: oneOf('mode', values.mode, ['dispatcher', 'requests'] as const, 'requests'),
    yield: !values['no-yield'],
    simulate: Boolean(values.simulate),
    signal: interrupt.signal,
    ...(values.graph && { graph: values.graph }),
    onProgress: (built, total) => {
      if (values.json) return;
      if (tty) {
        const width = 40;
        const filled = Math.round((built / total) * width);
        process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${built}/${total}`);
        if (built === total) process.stderr.write('\n');
      } else {
        const tenth = Math.floor((built / total) * 10);
        if (tenth > lastShown) {
          lastShown = tenth;
          console.log(`built ${built}/${total}`);
        }
      }
    },
  };
  if (!values.json) {
    console.log(
      `building ${options.graph ?? `${options.projects} generated projects`} on ${options.nodes} ${options.simulate ? 'simulated in-process' : options.kind} nodes, ${options.mode} mode${options.yield ? '' : ', workers NOT yielding'}`,
    );
  }
  const cores = availableParallelism();
  if (!values.json && !options.simulate && options.kind !== 'inproc' && options.nodes > cores) {
    console.log(
      `note: ${options.nodes} nodes share this machine's ${cores} cores, so CPU work waits for a core; ` +
        'the lower bound assumes a core per node (try --simulate, or --nodes to match)',
    );
  }
  const summary = await buildGraph(options);
  if (values.trace) {
    writeFileSync(values.trace, JSON.stringify({ traceEvents: summary.trace, displayTimeUnit: 'ms' }));
  }
  const { trace: _trace, ...result } = summary;
  if (values.json) console.log(JSON.stringify(result));
  else {
    if (tty && summary.built < options.projects) process.stderr.write('\n');
    console.log(
      `${summary.interrupted ? `interrupted by ${interrupt.received()}: ` : ''}built ${summary.built}, failed ${summary.failed}; makespan ${summary.makespanMs.toFixed(0)} ms, ` +
        `lower bound ${summary.lowerBoundMs.toFixed(0)} ms, ratio ${summary.ratio.toFixed(3)}`,
    );
    if (summary.verified) console.log("verified: every project's output equals a sequential evaluation");
    else if (summary.mismatched.length > 0)
      console.error(
        `NOT verified: ${summary.mismatched.length} project(s) differ from a sequential evaluation: ${summary.mismatched.slice(0, 10).join(', ')}`,
      );
    if (summary.error && !summary.interrupted) console.error(`error: ${summary.error}`);
  }
  const signal = interrupt.received();
  if (signal) return SIGNAL_EXIT_CODES[signal];
  return summary.error || summary.failed > 0 || !summary.verified ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exitCode = 2;
  },
);
