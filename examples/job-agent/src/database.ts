// Database mode: the scenario's jobs through a PostgreSQL queue that N agent processes share.
// This process (the operator) makes a fresh schema for the run, adds the jobs, starts the agents
// (agent-process.ts), and acts on each job once it runs as memory mode does: a cancel or a
// metadata update through the database (the agent holding the job hears of it), a lost lease on
// the agent that holds it. It reports each job's one result as the database records it, then
// stops the agents and drops the schema.
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { isPidAlive } from '@troupe/core/internal';
import { migrate, PostgresJobSource } from '@troupe/postgres';
import pg from 'pg';
import type { AgentRun } from './agent.js';
import type { AgentCommand, AgentMessage } from './agent-process.js';
import type { JobReport } from './report.js';
import { jobsModule, scenario } from './scenario.js';

export interface DatabaseRunOptions {
  /** A connection string (its password better in PGPASSWORD or ~/.pgpass). */
  database: string;
  /** Agent processes. Default 2. */
  agents?: number;
  /** Slots of each. Default 3. */
  slots?: number;
  onJob?: (report: JobReport) => void;
  onEvent?: (line: string) => void;
  /** How long the whole run may take before it is given up. Default 120 s. */
  timeoutMs?: number;
}

const agentProcess = new URL('./agent-process.js', import.meta.url);

export async function runDatabaseAgents(options: DatabaseRunOptions): Promise<AgentRun> {
  const schema = `job_agent_${randomBytes(4).toString('hex')}`;
  const say = options.onEvent ?? (() => {});
  await migrate(options.database, { schema });
  const queue = new PostgresJobSource({ database: options.database, schema, agent: 'operator', poolSize: 2 });
  const agents = new Map<string, ChildProcess>();
  const reports = new Map<string, JobReport>();
  const pids: number[] = [];
  let interrupted: AgentRun['interrupted'];
  let failed: Error | undefined;
  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const onInt = () => {
    interrupted ??= 'SIGINT';
    finish();
  };
  const onTerm = () => {
    interrupted ??= 'SIGTERM';
    finish();
  };
  process.once('SIGINT', onInt);
  process.once('SIGTERM', onTerm);
  const timer = setTimeout(() => {
    failed = new Error(`the jobs did not all end within ${options.timeoutMs ?? 120_000} ms`);
    finish();
  }, options.timeoutMs ?? 120_000);
  try {
    for (const job of scenario) {
      await queue.add({
        id: job.id,
        job: `${jobsModule}#${job.job}`,
        message: job.message ?? null,
        ...(job.metadata && { metadata: job.metadata }),
      });
    }
    const acts = new Map(scenario.map((s) => [s.id, s.act]));
    const act = (name: string, id: string) => {
      const what = acts.get(id);
      acts.delete(id);
      if (what?.kind === 'cancel') {
        setTimeout(() => {
          queue.cancel(id, 'cancelled by the user').then(
            (outcome) => say(`operator: cancel ${id}: ${outcome}`),
            (error: Error) => say(`operator: cancel ${id} failed: ${error.message}`),
          );
        }, what.afterMs);
      } else if (what?.kind === 'metadata') {
        queue.updateMetadata(id, what.metadata).then(
          (outcome) => say(`operator: metadata of ${id}: ${outcome}`),
          (error: Error) => say(`operator: metadata of ${id} failed: ${error.message}`),
        );
      } else if (what?.kind === 'loseLease') {
        agents.get(name)?.send({ type: 'loseLease', id } satisfies AgentCommand);
      }
    };
    // Done when every job has ended in the table (a report says when to look).
    const look = async () => {
      const rows = await queue.list();
      if (rows.every((row) => row.state === 'completed' || row.state === 'dead')) finish();
    };
    for (let index = 0; index < (options.agents ?? 2); index++) {
      const name = `agent-${index + 1}`;
      const child = fork(
        agentProcess,
        ['--name', name, '--schema', schema, '--slots', String(options.slots ?? 3)],
        // The URL goes by the environment, never argv.
        {
          env: { ...process.env, TROUPE_DATABASE_URL: options.database },
          stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
        },
      );
      child.stderr?.on('data', (chunk: Buffer) => {
        for (const line of chunk.toString().trimEnd().split('\n')) say(line);
      });
      agents.set(name, child);
      child.on('message', (message: AgentMessage) => {
        if (message.type === 'event') say(message.line);
        else if (message.type === 'log' && message.message === 'waiting') act(name, message.id);
        else if (message.type === 'report') {
          if (message.report.pid !== undefined) pids.push(message.report.pid);
          reports.set(message.report.id, message.report);
          void look().catch((error: Error) => say(`operator: ${error.message}`));
        }
      });
      child.on('exit', (code, signal) => {
        if (!interrupted && !failed && reports.size < scenario.length) {
          failed = new Error(`${name} exited (${signal ?? code}) before the jobs were done`);
          finish();
        }
      });
    }
    await finished;
    // Interrupted, the agents cancel their running jobs as they stop, and report them.
    await stopAgents([...agents.values()]);
    // Each job's one result is the table's; the agent's report adds how its worker ended.
    const jobs: JobReport[] = [];
    for (const row of await queue.list()) {
      const report = reports.get(row.id);
      if (!report && row.state !== 'completed') continue;
      const recorded: JobReport = {
        ...(report ?? { id: row.id, job: row.job.slice(row.job.lastIndexOf('#') + 1), ms: 0 }),
        result: row.result ?? 'None',
        ...(row.completion?.reason !== undefined && { reason: row.completion.reason }),
      };
      jobs.push(recorded);
      options.onJob?.(recorded);
    }
    if (failed) throw failed;
    return {
      jobs,
      leftBehind: pids.filter((pid) => isPidAlive(pid)),
      ...(interrupted && { interrupted }),
    };
  } finally {
    clearTimeout(timer);
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    await stopAgents([...agents.values()]);
    await queue.close();
    const client = new pg.Client({ connectionString: options.database });
    await client.connect();
    await client.query(`drop schema if exists "${schema}" cascade`).finally(() => client.end());
  }
}

/** Asks each agent to stop (its running jobs are cancelled and reported), then kills what is left. */
async function stopAgents(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
          child.once('exit', () => {
            clearTimeout(kill);
            resolve();
          });
          if (child.connected) child.send({ type: 'stop' } satisfies AgentCommand);
          else child.kill('SIGTERM');
        }),
    ),
  );
}
