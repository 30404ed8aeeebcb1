import { parseArgs } from 'node:util';
import { type JobReport, runAgent } from './agent.js';

const USAGE = `usage: npm run job-agent -- [options]     (examples/job-agent)
  --slots N        jobs at once (default 3)
  --json           one JSON line per job as it ends: id, job, result, reason, exitCode, signal, pid, ms
  --verbose        every state change and log line (to stderr with --json)
  --dashboard [PORT]  serve the run's live view on 127.0.0.1 (address to stderr; docs/dashboard.md);
                   --dashboard-host H binds H instead, with TROUPE_DASHBOARD_TOKEN as its token`;

function describe(report: JobReport): string {
  const exit =
    report.signal != null
      ? `, killed by ${report.signal}`
      : report.exitCode != null
        ? `, exit ${report.exitCode}`
        : '';
  const reason = report.reason ? ` — ${report.reason.split('\n')[0]}` : '';
  return `${report.id.padEnd(18)} ${report.result.padEnd(20)} ${String(report.ms).padStart(5)} ms${exit}${reason}`;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    // `--dashboard` may stand without its port: port 0, a free one.
    args: process.argv
      .slice(2)
      .flatMap((arg, index, args) =>
        arg === '--dashboard' && !/^\d+$/.test(args[index + 1] ?? '') ? [arg, '0'] : [arg],
      ),
    options: {
      dashboard: { type: 'string' },
      'dashboard-host': { type: 'string' },
      slots: { type: 'string' },
      json: { type: 'boolean' },
      verbose: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const slots = values.slots === undefined ? 3 : Number(values.slots);
  if (!Number.isInteger(slots) || slots < 1)
    throw new Error(`--slots must be a positive integer, not ${values.slots}`);
  const json = values.json ?? false;
  const progress = (line: string) => (json ? process.stderr : process.stdout).write(`${line}\n`);
  const run = await runAgent({
    slots,
    onJob: (report) => {
      if (json) process.stdout.write(`${JSON.stringify(report)}\n`);
      else progress(`done  ${describe(report)}`);
    },
    onEvent: (line) => {
      if (values.verbose || (!json && !line.startsWith('slot '))) progress(`      ${line}`);
    },
    ...(values.dashboard !== undefined && {
      dashboard: {
        port: Number(values.dashboard),
        ...(values['dashboard-host'] !== undefined && { host: values['dashboard-host'] }),
        ...(process.env.TROUPE_DASHBOARD_TOKEN && { token: process.env.TROUPE_DASHBOARD_TOKEN }),
      },
      onDashboard: (url: string) => process.stderr.write(`live view: ${url}\n`),
    }),
  });
  if (!json) {
    progress('\njob                result               time');
    for (const report of run.jobs) progress(describe(report));
  }
  if (run.leftBehind.length > 0) {
    process.stderr.write(`worker processes left behind: ${run.leftBehind.join(', ')}\n`);
    return 1;
  }
  if (run.interrupted) {
    // The run was cut short: a shell and CI see it as the signal's exit code (128 + its number).
    process.stderr.write(`interrupted by ${run.interrupted}\n`);
    return run.interrupted === 'SIGINT' ? 130 : 143;
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `job-agent: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 2;
  },
);
