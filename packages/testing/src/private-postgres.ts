// A private PostgreSQL server for tests and the bench: its own data directory in a temporary
// folder, its own free port on 127.0.0.1, its socket inside that folder, trust auth, no fsync. The
// server refuses to run as root, so under root it runs as the `postgres` user Debian's package
// made. `stop()` shuts it down at once and removes the folder; `stopLeftoverPostgres` finds the
// servers of a folder whose owner died before it could stop them (a crashed test worker).
import { type SpawnOptions, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PrivatePostgresOptions {
  /** Where the server's folder is made. Default: `TROUPE_PG_ROOT` (set by a run's global setup), or the OS temp dir. */
  parent?: string;
  /** The database created for the caller. Default `troupe`. */
  database?: string;
  /** How long the server may take to accept connections. Default 30 s. */
  startTimeoutMs?: number;
  /** The PostgreSQL binaries. Default: `TROUPE_PG_BIN`, or the newest of /usr/lib/postgresql/N/bin. */
  binDir?: string;
}

export interface PrivatePostgres {
  /** `postgres://postgres@127.0.0.1:PORT/DATABASE`. */
  readonly url: string;
  readonly port: number;
  /** The server's folder: data directory, socket and log. */
  readonly directory: string;
  /** A URL of another database on the same server, created now. */
  createDatabase(name: string): Promise<string>;
  /** Stops the server now (immediate mode) and removes its folder. Idempotent. */
  stop(): Promise<void>;
}

const PREFIX = 'troupe-pg-';

/** Starts a private server and creates its database; rejects with the server's log when it cannot. */
export async function startPrivatePostgres(options: PrivatePostgresOptions = {}): Promise<PrivatePostgres> {
  const bin = options.binDir ?? process.env.TROUPE_PG_BIN ?? findBinDir();
  const parent = options.parent ?? process.env.TROUPE_PG_ROOT ?? tmpdir();
  const directory = mkdtempSync(join(parent, PREFIX));
  const data = join(directory, 'data');
  const log = join(directory, 'server.log');
  const user = serverUser();
  if (user) chownSync(directory, user.uid, user.gid);
  const run = (tool: string, args: string[]) => runTool(join(bin, tool), args, directory, user);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await stopServer(bin, directory, user);
  };
  try {
    await run('initdb', [
      ...['-D', data, '-U', 'postgres', '--auth=trust', '--locale=C', '--encoding=UTF8', '--no-sync'],
    ]);
    const port = await startOnFreePort(run, data, directory, log, options.startTimeoutMs ?? 30_000);
    const database = options.database ?? 'troupe';
    const createDatabase = async (name: string) => {
      await run('createdb', ['-h', directory, '-p', String(port), '-U', 'postgres', name]);
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    };
    const url = await createDatabase(database);
    return { url, port, directory, createDatabase, stop };
  } catch (error) {
    await stop();
    if (user && /permission denied/i.test(String((error as Error).message))) {
      throw new Error(
        `${(error as Error).message}\n(the server runs as the postgres user, who must be able to reach ` +
          `${directory}: every folder above it needs o+x)`,
        { cause: error },
      );
    }
    throw error;
  }
}

/**
 * Stops every private server still running under `parent` (those whose `stop()` never ran) and
 * removes their folders. Returns the folders it found.
 */
export async function stopLeftoverPostgres(parent: string): Promise<string[]> {
  if (!existsSync(parent)) return [];
  const bin = process.env.TROUPE_PG_BIN ?? findBinDir();
  const user = serverUser();
  const left = readdirSync(parent)
    .filter((name) => name.startsWith(PREFIX))
    .map((name) => join(parent, name));
  for (const directory of left) await stopServer(bin, directory, user);
  return left;
}

interface ServerUser {
  uid: number;
  gid: number;
}

/** Root runs the server as `postgres`; anyone else runs it as themselves. */
function serverUser(): ServerUser | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const entry = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .map((line) => line.split(':'))
    .find((fields) => fields[0] === 'postgres');
  if (!entry) {
    throw new Error(
      'PostgreSQL refuses to run as root and there is no `postgres` user to run it as ' +
        "(install Debian's postgresql package, or run the tests as another user)",
    );
  }
  return { uid: Number(entry[2]), gid: Number(entry[3]) };
}

function findBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((name) => /^\d+$/.test(name) && existsSync(join(root, name, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) {
    throw new Error(
      `no PostgreSQL server binaries under ${root}/N/bin: install the postgresql package, or name ` +
        'the folder of initdb, pg_ctl and postgres in TROUPE_PG_BIN',
    );
  }
  return join(root, versions[0]!, 'bin');
}

type Run = (tool: string, args: string[]) => Promise<string>;

/** A free port can be taken by someone else before the server binds it: try a few. */
async function startOnFreePort(
  run: Run,
  data: string,
  directory: string,
  log: string,
  timeoutMs: number,
): Promise<number> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const settings = [
      ...['-p', String(port), '-k', directory, '-h', '127.0.0.1', '-F'],
      ...['-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200'],
    ];
    try {
      await run('pg_ctl', [
        ...['start', '-w', '-t', String(Math.ceil(timeoutMs / 1000)), '-D', data, '-l', log],
        ...['-o', settings.join(' ')],
      ]);
      return port;
    } catch (error) {
      lastError = error;
      const text = existsSync(log) ? readFileSync(log, 'utf8') : '';
      if (!/could not bind|address already in use/i.test(text)) break;
    }
  }
  const text = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').slice(-20).join('\n') : '';
  throw new Error(
    `the private PostgreSQL server did not start within ${timeoutMs} ms: ${(lastError as Error).message}` +
      (text ? `\n--- server log (tail) ---\n${text}` : ''),
    { cause: lastError },
  );
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject()));
    });
  });
}

async function stopServer(bin: string, directory: string, user: ServerUser | undefined): Promise<void> {
  const data = join(directory, 'data');
  try {
    if (existsSync(join(data, 'postmaster.pid'))) {
      await runTool(
        join(bin, 'pg_ctl'),
        ['stop', '-m', 'immediate', '-w', '-t', '30', '-D', data],
        directory,
        user,
      );
    }
  } catch (error) {
    // pg_ctl could not stop it: the postmaster's pid is the first line of its pid file.
    const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    if (Number.isInteger(pid) && pid > 0) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    rmSync(directory, { recursive: true, force: true });
    throw new Error(`could not stop the private PostgreSQL server in ${directory}`, { cause: error });
  }
  rmSync(directory, { recursive: true, force: true });
}

/** Runs a PostgreSQL tool to its end; rejects with its output when it fails. */
function runTool(file: string, args: string[], cwd: string, user: ServerUser | undefined): Promise<string> {
  const options: SpawnOptions = {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LC_ALL: 'C' },
    ...(user && { uid: user.uid, gid: user.gid }),
  };
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, options);
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) resolve(output);
      else {
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        reject(new Error(`${file} ${args[0]} ${how}: ${output.trim()}`));
      }
    });
  });
}
