// `troupe-jobs` (run as `troupe jobs`): migrate a queue, add jobs, list them, cancel one, update
// one's metadata. A real program at the edge: it reads process.argv and the environment and writes
// stdio. The database comes from --database or TROUPE_DATABASE_URL; a password belongs in
// PGPASSWORD or ~/.pgpass (node-postgres reads both), never in the command line, which every user
// of the machine can see.
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { migrate } from '../migrations.js';
import type { PostgresJob } from '../options.js';
import { PostgresJobSource } from '../source.js';

const USAGE = `usage: troupe jobs <command> [--database URL] [--schema NAME]
  migrate                                  create or upgrade the queue's schema
  add MODULE#EXPORT [--message JSON] [--metadata JSON] [--id ID] [--priority N] [--max-attempts N]
                                           queue a job (a path is made a file URL); prints its id
  list [--state STATE] [--json]            the jobs, oldest first: id, state, result, attempts, agent, job
  cancel ID [--reason TEXT]                cancel a queued job, or ask its agent to cancel a running one
  metadata ID JSON                         merge JSON into a job's metadata (a running job's worker gets it)

The database is --database URL or, when that is not given, TROUPE_DATABASE_URL. Keep the password
out of both: put it in PGPASSWORD or ~/.pgpass.`;

/** A mistake in the command line: `troupe jobs: <message>` and exit code 2. */
class UsageError extends Error {}

const COMMON = {
  database: { type: 'string' },
  schema: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const COMMANDS = {
  migrate: { options: {}, positionals: 0 },
  add: {
    options: {
      message: { type: 'string' },
      metadata: { type: 'string' },
      id: { type: 'string' },
      priority: { type: 'string' },
      'max-attempts': { type: 'string' },
    },
    positionals: 1,
  },
  list: { options: { state: { type: 'string' }, json: { type: 'boolean' } }, positionals: 0 },
  cancel: { options: { reason: { type: 'string' } }, positionals: 1 },
  metadata: { options: {}, positionals: 2 },
} as const;

type Values = Record<string, string | boolean | undefined>;

/** What `list --state` takes: a job's states (`PostgresJob['state']`). */
const STATES: readonly string[] = ['queued', 'leased', 'completed', 'dead'] satisfies PostgresJob['state'][];

function parse(argv: string[]): { command: keyof typeof COMMANDS; values: Values; positionals: string[] } {
  const [command, ...rest] = argv;
  if (command === undefined || !Object.hasOwn(COMMANDS, command)) {
    throw new UsageError(
      command === undefined ? 'a command is needed' : `unknown command ${JSON.stringify(command)}`,
    );
  }
  const spec = COMMANDS[command as keyof typeof COMMANDS];
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({
      args: rest,
      options: { ...COMMON, ...spec.options },
      strict: true,
      allowPositionals: true,
    }) as { values: Values; positionals: string[] };
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/\s*\n\s*/g, ' '));
  }
  if (!parsed.values.help && parsed.positionals.length !== spec.positionals) {
    throw new UsageError(
      `${command} takes ${spec.positionals} argument(s), not ${parsed.positionals.length}`,
    );
  }
  return { command: command as keyof typeof COMMANDS, ...parsed };
}

function databaseUrl(values: Values): string {
  const url = (values.database as string | undefined) ?? process.env.TROUPE_DATABASE_URL;
  if (!url) throw new UsageError('no database: give --database URL or set TROUPE_DATABASE_URL');
  if (values.database !== undefined && hasPassword(url)) {
    process.stderr.write(
      'troupe jobs: warning: the password in --database is visible to every user of this machine; ' +
        'put it in PGPASSWORD or ~/.pgpass\n',
    );
  }
  return url;
}

/**
 * Whether a connection string carries a password: in its user part (`postgres://me:pw@...`, the
 * host left empty for a socket directory too, which `new URL` refuses), as a `password=` query
 * parameter, or as a `password=` keyword of the key=value form.
 */
function hasPassword(url: string): boolean {
  if (/^[a-z][a-z\d+.-]*:\/\/[^/?#@]*:[^/?#@]*@/i.test(url)) {
    const userinfo = url.slice(url.indexOf('//') + 2, url.indexOf('@'));
    if (userinfo.slice(userinfo.indexOf(':') + 1) !== '') return true;
  }
  return /([?&]|^|\s)password=[^&\s]/i.test(url);
}

function json(text: string | boolean | undefined, option: string): unknown {
  if (typeof text !== 'string') return undefined;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${option} is not JSON: ${(error as Error).message}`);
  }
}

function object(text: string | boolean | undefined, option: string): Record<string, unknown> | undefined {
  const value = json(text, option);
  if (value !== undefined && (value === null || typeof value !== 'object' || Array.isArray(value))) {
    throw new UsageError(`${option} must be a JSON object`);
  }
  return value as Record<string, unknown> | undefined;
}

function integer(text: string | boolean | undefined, option: string): number | undefined {
  if (typeof text !== 'string') return undefined;
  const value = Number(text);
  if (!Number.isInteger(value)) throw new UsageError(`${option} must be an integer, not ${text}`);
  return value;
}

/** `./jobs.js#build` as a worker can import it: a path becomes a file URL; a package name stays. */
function jobSpecifier(spec: string): string {
  const hash = spec.lastIndexOf('#');
  if (hash <= 0 || hash === spec.length - 1) throw new UsageError(`${spec} is not MODULE#EXPORT`);
  const module = spec.slice(0, hash);
  const isPath = isAbsolute(module) || module.startsWith('./') || module.startsWith('../');
  return `${isPath ? pathToFileURL(resolve(module)).href : module}${spec.slice(hash)}`;
}

function row(job: PostgresJob): string {
  return [
    job.id,
    job.state,
    job.result ?? '-',
    `${job.attempts}/${job.maxAttempts}`,
    job.agent ?? '-',
    job.job,
  ].join('\t');
}

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const { command, values, positionals } = parse(argv);
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const database = databaseUrl(values);
  const schema = values.schema as string | undefined;
  if (command === 'migrate') {
    const result = await migrate(database, schema === undefined ? {} : { schema });
    process.stdout.write(
      result.applied.length === 0
        ? `the queue's schema is up to date (version ${result.version})\n`
        : `applied migration(s) ${result.applied.join(', ')}; the schema is at version ${result.version}\n`,
    );
    return 0;
  }
  const source = new PostgresJobSource({ database, poolSize: 1, ...(schema !== undefined && { schema }) });
  try {
    switch (command) {
      case 'add': {
        const metadata = object(values.metadata, '--metadata');
        const priority = integer(values.priority, '--priority');
        const maxAttempts = integer(values['max-attempts'], '--max-attempts');
        const id = await source.add({
          job: jobSpecifier(positionals[0]!),
          message: json(values.message, '--message'),
          ...(metadata && { metadata }),
          ...(typeof values.id === 'string' && { id: values.id }),
          ...(priority !== undefined && { priority }),
          ...(maxAttempts !== undefined && { maxAttempts }),
        });
        process.stdout.write(`${id}\n`);
        return 0;
      }
      case 'list': {
        const state = values.state as string | undefined;
        if (state !== undefined && !STATES.includes(state))
          throw new UsageError(`--state must be one of ${STATES.join(', ')}, not ${JSON.stringify(state)}`);
        const jobs = (await source.list()).filter((job) => state === undefined || job.state === state);
        for (const job of jobs) process.stdout.write(`${values.json ? JSON.stringify(job) : row(job)}\n`);
        return 0;
      }
      case 'cancel': {
        const outcome = await source.cancel(
          positionals[0]!,
          (values.reason as string) ?? 'cancelled by the operator',
        );
        process.stdout.write(`${positionals[0]}\t${outcome}\n`);
        return 0;
      }
      case 'metadata': {
        const outcome = await source.updateMetadata(positionals[0]!, object(positionals[1], 'the metadata')!);
        process.stdout.write(`${positionals[0]}\t${outcome}\n`);
        return 0;
      }
    }
  } finally {
    await source.close();
  }
}

/**
 * Once the command has its exit code, the process ends even if a connection outlived its close:
 * node-postgres leaves the socket of a connection that failed mid-authentication (a server that
 * asks for a password when none was given) open until the server's own authentication timeout,
 * a minute by default. An unreferenced timer: a process with nothing left open exits at once.
 */
function exitSoon(): void {
  setTimeout(() => process.exit(), 1_000).unref();
}

// A reader that stopped reading (`troupe jobs list | head`) is not an error of ours.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    exitSoon();
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`troupe jobs: ${error.message} (see troupe jobs --help)\n`);
      process.exitCode = 2;
      return;
    }
    // A refusal of the queue (unknown job, schema not migrated, a database that does not answer)
    // is its message; anything else, its stack.
    const coded = typeof (error as { code?: unknown })?.code === 'string';
    const noPassword = error instanceof Error && /client password must be a string/.test(error.message);
    const text = noPassword
      ? 'the server asks for a password and none was given: set PGPASSWORD or add it to ~/.pgpass'
      : error instanceof Error
        ? coded
          ? error.message
          : (error.stack ?? error.message)
        : String(error);
    process.stderr.write(`troupe jobs: ${text}\n`);
    process.exitCode = 1;
    exitSoon();
  },
);
