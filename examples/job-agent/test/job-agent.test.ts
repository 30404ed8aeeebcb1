import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Ran, runNode } from '../../../test/support/run-node.js';

const main = new URL('../dist/main.js', import.meta.url).pathname;

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

let directory: string | undefined;
const seen: number[] = [];

afterEach(async () => {
  // Whatever happened, no worker outlives the test.
  for (const pid of seen.splice(0)) {
    for (const target of [-pid, pid]) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
  }
  if (directory) await rm(directory, { recursive: true, force: true });
  directory = undefined;
});

function run(args: string[], env: NodeJS.ProcessEnv): Promise<Ran> {
  return runNode([main, ...args], { env });
}

describe('examples/job-agent', () => {
  it('a command line that makes no sense: its reason in one line, exit code 2, no stack trace', async () => {
    const env = { ...process.env, TROUPE_DATABASE_URL: '' };
    for (const [args, reason] of [
      [['--bogus'], "Unknown option '--bogus'"],
      [['--slots', '0'], '--slots must be a positive integer, not 0'],
      // --database alone takes TROUPE_DATABASE_URL, as --help says; here there is none.
      [['--database'], '--database without a URL needs TROUPE_DATABASE_URL'],
      [['--database', '--json'], '--database without a URL needs TROUPE_DATABASE_URL'],
      [['--agents', '2'], '--agents needs --database'],
    ] as const) {
      const result = await run([...args], env);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toContain(`job-agent: ${reason}`);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stdout).toBe('');
    }
  });

  it('--json: one line per job with its result, and no worker process remains', async () => {
    directory = await mkdtemp(join(tmpdir(), 'troupe-agent-'));
    const result = await run(['--json'], { ...process.env, TROUPE_SOCKET_DIR: directory });
    const lines = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { id: string; result: string; pid?: number; output?: string });
    for (const line of lines) if (line.pid) seen.push(line.pid);
    expect(result.code, result.stderr).toBe(0);
    expect(Object.fromEntries(lines.map((line) => [line.id, line.result]))).toEqual({
      'compile-app': 'Succeeded',
      'cancelled-mid-run': 'Canceled',
      'ignores-cancel': 'Canceled',
      crashes: 'Failed',
      'lease-lost': 'Abandoned',
      'metadata-update': 'SucceededWithIssues',
      'compile-tests': 'Succeeded',
    });
    expect(lines.find((line) => line.id === 'crashes')!.output).toMatch(/fatal: input.bin is corrupt/);
    expect(lines.filter((line) => line.pid)).toHaveLength(7);
    for (const line of lines) expect(alive(line.pid!)).toBe(false);
    // Sockets and captured output files are gone with their workers.
    expect(await readdir(directory)).toEqual([]);
  });

  it('SIGINT mid-run cancels the jobs, exits 130, and leaves no worker, socket or output file', async () => {
    directory = await mkdtemp(join(tmpdir(), 'troupe-agent-'));
    const child = spawn(process.execPath, [main, '--json'], {
      env: { ...process.env, TROUPE_SOCKET_DIR: directory },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      // The first job is done and the next ones run: the moment to interrupt (once).
      if (!sent && stdout.includes('\n')) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    const lines = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { id: string; result: string; pid?: number });
    for (const line of lines) if (line.pid) seen.push(line.pid);

    expect(code, stderr).toBe(130);
    expect(stderr).toContain('interrupted by SIGINT');
    expect(lines.length).toBeLessThan(7);
    expect(lines.some((line) => line.result === 'Canceled')).toBe(true);
    for (const line of lines) if (line.pid) expect(alive(line.pid)).toBe(false);
    expect(await readdir(directory)).toEqual([]);
  });
});
