import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { formatTraceSummary, summarizeTrace } from '@troupe/core';
import { type BuildOptions, buildGraph } from './build.js';
import { parseCommand, USAGE } from './options.js';

function ms(value: number): string {
  return `${value < 10 ? value.toFixed(1) : value.toFixed(0)} ms`;
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

/** The live view's token, from the environment only: an argument would show in every process list. */
function dashboardToken(): { token?: string } {
  const token = process.env.TROUPE_DASHBOARD_TOKEN;
  return token ? { token } : {};
}

/**
 * Where a file named on the command line is. `npm start` runs this example in its own folder, so
 * there a relative name is taken from the directory npm was started in (npm's INIT_CWD), where the
 * user typed it; run with `node` directly, from the working directory.
 */
function userPath(file: string): string {
  const typedIn = process.env.npm_lifecycle_event === 'start' ? process.env.INIT_CWD : undefined;
  return resolve(typedIn ?? process.cwd(), file);
}

async function main(): Promise<number> {
  const command = parseCommand(process.argv.slice(2));
  if (command.help) {
    console.log(USAGE);
    return 0;
  }
  const { json } = command;
  const interrupt = interruptions();
  const tty = process.stderr.isTTY && !json;
  let lastShown = -1;
  const options: BuildOptions = {
    ...command.options,
    ...(typeof command.options.graph === 'string' && { graph: userPath(command.options.graph) }),
    signal: interrupt.signal,
    ...(command.dashboard && {
      dashboard: { ...command.dashboard, ...dashboardToken() },
      onDashboard: (url: string) => process.stderr.write(`live view: ${url}\n`),
    }),
    onProgress: (built, total) => {
      if (json) return;
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
  if (!json) {
    const how =
      options.mode === 'requests'
        ? `requests mode, dependencies ${options.model === 'discovered' ? 'discovered by each task (ctx.build)' : 'declared'}`
        : `dispatcher mode${options.yield ? '' : ', workers NOT yielding'}`;
    const remote = options.remote?.length ? ` and ${options.remote.length} remote` : '';
    console.log(
      `building ${options.graph ?? `${options.projects} generated projects`} on ${options.nodes} ${options.simulate ? 'simulated in-process' : options.kind}${remote} nodes, ${how}`,
    );
  }
  const cores = options.cores!;
  if (!json && !options.simulate && options.kind !== 'inproc' && options.nodes > cores) {
    console.log(
      `note: ${options.nodes} nodes share this machine's ${cores} cores, so CPU work waits for a core; ` +
        `the lower bound assumes ${cores} projects at a time`,
    );
  }
  const summary = await buildGraph(options);
  if (command.trace) {
    writeFileSync(userPath(command.trace), JSON.stringify(summary.trace));
  }
  const { trace: _trace, ...result } = summary;
  if (json) console.log(JSON.stringify(result));
  else {
    if (tty && summary.built < options.projects) process.stderr.write('\n');
    console.log(
      `${summary.interrupted ? `interrupted by ${interrupt.received()}: ` : ''}built ${summary.built}, failed ${summary.failed}; ` +
        `makespan ${ms(summary.makespanMs)} (start-up, to the first node ready: ${ms(summary.startupMs)}), ` +
        `lower bound ${ms(summary.lowerBoundMs)} (${summary.parallelism} at a time)`,
    );
    console.log(
      `makespan / lower bound ${summary.ratio.toFixed(3)}; without start-up ${summary.ratioExcludingStartup.toFixed(3)}`,
    );
    if (summary.verified) console.log("verified: every project's output equals a sequential evaluation");
    else if (summary.mismatched.length > 0)
      console.error(
        `NOT verified: ${summary.mismatched.length} project(s) differ from a sequential evaluation: ${summary.mismatched.slice(0, 10).join(', ')}`,
      );
    if (summary.error && !summary.interrupted) console.error(`error: ${summary.error}`);
  }
  if (command.summary) {
    // After the result line, and beside the JSON line rather than in its way.
    const text = `\n${formatTraceSummary(summarizeTrace(summary.trace))}\n`;
    if (json) process.stderr.write(text);
    else process.stdout.write(text);
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
