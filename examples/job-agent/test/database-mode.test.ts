// `npm run job-agent -- --database URL --agents N`: the same demo jobs through a private
// PostgreSQL server, shared by agent processes; each job's one result is the table's and is the
// one memory mode gives; no worker or agent process is left, and the run's schema is dropped.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type PrivatePostgres, startPrivatePostgres } from '@troupe/testing/internal';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runNode } from '../../../test/support/run-node.js';
import { scenario } from '../dist/scenario.js';

const main = new URL('../dist/main.js', import.meta.url).pathname;
let server: PrivatePostgres | undefined;
let directory: string | undefined;

beforeAll(async () => {
  server = await startPrivatePostgres({ startTimeoutMs: 60_000 });
  directory = await mkdtemp(join(tmpdir(), 'troupe-agent-'));
}, 90_000);
afterAll(async () => {
  await server?.stop();
  if (directory) await rm(directory, { recursive: true, force: true });
}, 60_000);

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('examples/job-agent --database', () => {
  it('runs the demo jobs on 3 agent processes sharing the queue; each job has its one result', async () => {
    const url = server!.url;
    const { code, stdout, stderr } = await runNode(
      [main, '--database', '', '--agents', '3', '--slots', '2', '--json', '--verbose'],
      // The URL by the environment (--database alone), as a password-bearing one should go.
      { env: { ...process.env, TROUPE_DATABASE_URL: url, TROUPE_SOCKET_DIR: directory } },
    );
    expect(code, stderr).toBe(0);
    const lines = stdout
      .trim()
      .split('\n')
      .map(
        (line) =>
          JSON.parse(line) as { id: string; result: string; pid?: number; agent?: string; output?: string },
      );
    expect(Object.fromEntries(lines.map((line) => [line.id, line.result]))).toEqual(
      Object.fromEntries(scenario.map((job) => [job.id, job.expected])),
    );
    expect(lines.find((line) => line.id === 'crashes')!.output).toMatch(/fatal: input.bin is corrupt/);
    // Every job ran in a worker of one of the agents, and none of those processes is left.
    for (const line of lines) {
      expect(line.agent).toMatch(/^agent-[123]$/);
      expect(alive(line.pid!)).toBe(false);
    }
    // The cancels and the metadata update went through the database, whose NOTIFY the holders heard.
    expect(stderr).toMatch(/operator: cancel cancelled-mid-run: requested/);
    expect(stderr).toMatch(/operator: metadata of metadata-update: sent/);
    expect(await readdir(directory!)).toEqual([]);
    // The run's schema is gone with it.
    const client = new pg.Client(url);
    await client.connect();
    const { rows } = await client.query("select nspname from pg_namespace where nspname like 'job_agent_%'");
    await client.end();
    expect(rows).toEqual([]);
  });
});
