import { parseArgs } from 'node:util';
import { type AgentRun, type JobReport, runAgent } from './agent.js';
import { runDatabaseAgents } from './database.js';

const USAGE = `usage: npm run job-agent -- [options]     (examples/job-agent)
  --slots N        jobs at once, per agent (default 3)
  --database URL   run the jobs through this PostgreSQL database instead (or TROUPE_DATABASE_URL
                   with --database alone): a fresh schema for the run, dropped at its end; keep a
                   password out of the URL (PGPASSWORD or ~/.pgpass)
  --agents N       database mode: agent processes sharing the queue (default 2)
  --json           one JSON line per job as it ends: id, job, result, reason, exitCode, signal, pid, ms
  --verbose        every state change and log line (to stderr with --json)
  --dashboard [PORT]  serve the run's live view on 127.0.0.1 (address to stderr; docs/dashboard.md);
                   --dashboard-host H binds H instead, with TROUPE_DASHBOARD_TOKEN as its token`;

/** A command line that makes no sense: its message and exit code 2, no stack trace. */
class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * The command line as parseArgs reads it: `--dashboard` may stand without its port (port 0, a
 * free one), and `--database` without its URL (TROUPE_DATABASE_URL), as `--database ''`.
 */
function normalized(args: readonly string[]): string[] {
  return args.flatMap((arg, index) => {
    const following = args[index + 1];
    if (arg === '--dashboard' && !/^\d+$/.test(following ?? '')) return [arg, '0'];
    if (arg === '--database' && (following === undefined || following.startsWith('--'))) return [arg, ''];
    return [arg];
  });
}

function parse(args: readonly string[]) {
  try {
    return parseArgs({
      args: normalized(args),
      options: {
        dashboard: { type: 'string' },
        'dashboard-host': { type: 'string' },
        slots: { type: 'string' },
        database: { type: 'string' },
        agents: { type: 'string' },
        json: { type: 'boolean' },
        verbose: { type: 'boolean' },
        help: { type: 'boolean' },
      },
    });
  } catch (error) {
    // parseArgs's own words (an unknown option, a missing value) are the user's to read, not a stack.
    if ((error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS'))
      throw new UsageError((error as Error).message);
    throw error;
  }
}

function describe(report: JobReport): string {
  const exit =
    report.signal != null
      ? `, killed by ${report.signal}`
      : report.exitCode != null
        ? `, exit ${report.exitCode}`
        : '';
  const reason = report.reason ? ` — ${report.reason.split('\n')[0]}` : '';
  const agent = report.agent ? `, on ${report.agent}` : '';
  return `${report.id.padEnd(18)} ${report.result.padEnd(20)} ${String(report.ms).padStart(5)} ms${agent}${exit}${reason}`;
}

async function main(): Promise<number> {
  const { values } = parse(process.argv.slice(2));
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const slots = values.slots === undefined ? 3 : Number(values.slots);
  if (!Number.isInteger(slots) || slots < 1)
    throw new UsageError(`--slots must be a positive integer, not ${values.slots}`);
  const agents = values.agents === undefined ? 2 : Number(values.agents);
  if (!Number.isInteger(agents) || agents < 1)
    throw new UsageError(`--agents must be a positive integer, not ${values.agents}`);
  const database = values.database === '' ? process.env.TROUPE_DATABASE_URL : values.database;
  if (values.database === '' && !database)
    throw new UsageError('--database without a URL needs TROUPE_DATABASE_URL');
  if (values.agents !== undefined && database === undefined)
    throw new UsageError('--agents needs --database');
  const json = values.json ?? false;
  const progress = (line: string) => (json ? process.stderr : process.stdout).write(`${line}\n`);
  const onJob = (report: JobReport) => {
    if (json) process.stdout.write(`${JSON.stringify(report)}\n`);
    else progress(`done  ${describe(report)}`);
  };
  const onEvent = (line: string) => {
    if (values.verbose || (!json && !/^(agent-\d+ )?slot /.test(line))) progress(`      ${line}`);
  };
  const dashboard =
    values.dashboard === undefined
      ? undefined
      : {
          dashboard: {
            port: Number(values.dashboard),
            ...(values['dashboard-host'] !== undefined && { host: values['dashboard-host'] }),
            ...(process.env.TROUPE_DASHBOARD_TOKEN && { token: process.env.TROUPE_DASHBOARD_TOKEN }),
          },
          onDashboard: (url: string) => process.stderr.write(`live view: ${url}\n`),
        };
  if (dashboard && database !== undefined)
    throw new UsageError('--dashboard is for memory mode (one agent in this process)');
  // Database mode prints each job once the table has its one result (all at the end).
  const run: AgentRun =
    database === undefined
      ? await runAgent({ slots, onJob, onEvent, ...dashboard })
      : await runDatabaseAgents({ database, agents, slots, onJob, onEvent });
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

/**
 * Once the run has its exit code, the process ends even if a database connection outlived its
 * close (node-postgres keeps the socket of a connection that failed mid-authentication, a server
 * asking for a password when none was given, until the server gives up, a minute later). An
 * unreferenced timer: with nothing left open, the process exits at once.
 */
function exitSoon(): void {
  setTimeout(() => process.exit(), 1_000).unref();
}

main().then(
  (code) => {
    process.exitCode = code;
    exitSoon();
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`job-agent: ${error.message} (--help for usage)\n`);
    } else {
      process.stderr.write(
        `job-agent: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
    }
    process.exitCode = 2;
    exitSoon();
  },
);
