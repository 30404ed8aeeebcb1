// Agent processes for the fault tests (the example's own dist/agent-process.js), and a private
// PostgreSQL server that a test can stop and start again. Whatever a test started is killed by
// `stopAll`, which the test file's afterEach runs.
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PrivatePostgres } from '@troupe/testing/internal';
import type { AgentCommand, AgentMessage } from '../../dist/agent-process.js';
import type { JobReport } from '../../dist/report.js';

const agentProcess = new URL('../../dist/agent-process.js', import.meta.url);

export interface TestAgent {
  readonly name: string;
  readonly child: ChildProcess;
  readonly reports: JobReport[];
  readonly events: string[];
  /** What the agent wrote to stderr (its database warnings among it). */
  stderr: string;
  readonly exited: Promise<void>;
  /** Its IPC channel closed: every message it sent has arrived by then. */
  readonly disconnected: Promise<void>;
  send(command: AgentCommand): void;
}

const started = new Set<TestAgent>();
/** Worker pids seen in reports or events: killed at the end, whatever became of their agent. */
const workerPids = new Set<number>();

export function startAgent(
  name: string,
  options: { url: string; schema: string; socketDir: string; args?: string[] },
): TestAgent {
  const child = fork(agentProcess, ['--name', name, '--schema', options.schema, ...(options.args ?? [])], {
    env: { ...process.env, TROUPE_DATABASE_URL: options.url, TROUPE_SOCKET_DIR: options.socketDir },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const disconnected = new Promise<void>((resolve) => child.once('disconnect', () => resolve()));
  const agent: TestAgent = {
    name,
    child,
    reports: [],
    events: [],
    stderr: '',
    exited,
    disconnected,
    send: (command) => {
      if (child.connected) child.send(command);
    },
  };
  child.stderr?.on('data', (chunk: Buffer) => {
    agent.stderr += chunk.toString();
  });
  child.on('message', (message: AgentMessage) => {
    if (message.type === 'report') {
      agent.reports.push(message.report);
      if (message.report.pid !== undefined) workerPids.add(message.report.pid);
    } else if (message.type === 'event') {
      agent.events.push(message.line);
      const pid = /started .* in worker pid (\d+)/.exec(message.line)?.[1];
      if (pid) workerPids.add(Number(pid));
    } else if (message.type === 'log') {
      agent.events.push(`${message.id} | ${message.message}`);
    }
  });
  started.add(agent);
  return agent;
}

export async function kill(agent: TestAgent, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  agent.child.kill(signal);
  await agent.exited;
}

/**
 * Asks an agent to stop as an operator would, and resolves once it has disconnected: it sends its
 * last reports before it does, so they have all arrived by then.
 */
export async function stop(agent: TestAgent): Promise<void> {
  agent.send({ type: 'stop' });
  await agent.disconnected;
}

export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Kills every agent and worker the tests started (a stopped one is continued first). */
export async function stopAll(): Promise<void> {
  for (const agent of started) {
    if (agent.child.exitCode === null && agent.child.signalCode === null) {
      agent.child.kill('SIGCONT');
      agent.child.kill('SIGKILL');
      await agent.exited;
    }
  }
  started.clear();
  for (const pid of workerPids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  workerPids.clear();
}

/** Resolves once `ready()` holds, looking every 50 ms; rejects after `ms` naming `what`. */
export async function until(
  what: string,
  ready: () => boolean | Promise<boolean>,
  ms = 30_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Stops the private server (fast: sessions cut, data kept; the test server's asynchronous commits would lose acknowledged writes in a crash), as an operator would. */
export function stopServer(server: PrivatePostgres): Promise<void> {
  return pgCtl(['stop', '-m', 'fast', '-w', '-D', join(server.directory, 'data')]);
}

/** Starts it again on the same port and socket folder. */
export function startServer(server: PrivatePostgres): Promise<void> {
  const data = join(server.directory, 'data');
  const settings = [
    ...['-p', String(server.port), '-k', server.directory, '-h', '127.0.0.1', '-F'],
    ...['-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200'],
  ];
  const log = join(server.directory, 'server.log');
  return pgCtl(['start', '-w', '-t', '60', '-D', data, '-l', log, '-o', settings.join(' ')]);
}

function pgCtl(args: string[]): Promise<void> {
  const root = '/usr/lib/postgresql';
  const bin =
    process.env.TROUPE_PG_BIN ??
    join(
      root,
      readdirSync(root)
        .filter((name) => existsSync(join(root, name, 'bin', 'pg_ctl')))
        .sort((a, b) => Number(b) - Number(a))[0]!,
      'bin',
    );
  // The server runs as `postgres` when the tests run as root (it refuses root).
  const entry =
    process.getuid?.() === 0
      ? readFileSync('/etc/passwd', 'utf8')
          .split('\n')
          .map((line) => line.split(':'))
          .find((fields) => fields[0] === 'postgres')
      : undefined;
  return new Promise((resolve, reject) => {
    const child = spawn(join(bin, 'pg_ctl'), args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      ...(entry && { uid: Number(entry[2]), gid: Number(entry[3]) }),
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`pg_ctl ${args[0]}: ${stderr}`)),
    );
  });
}
