// Ctrl-C and SIGTERM in the middle of a build on process nodes: the example cancels the build,
// shuts its runtime down, prints its summary marked interrupted and exits with the signal's code,
// leaving no node process, socket, log or temp directory behind.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const main = new URL('../dist/main.js', import.meta.url).pathname;

let directory: string;
let sockets: string;
let child: ChildProcess | undefined;

/** Pids of running processes whose environment names `sockets` (the example's nodes; /proc only). */
async function processesUsing(dir: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const environ = (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0');
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      const zombie = stat.charAt(stat.lastIndexOf(')') + 2) === 'Z';
      if (!zombie && environ.includes(`TROUPE_SOCKET_DIR=${dir}`)) found.push(pid);
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return found;
}

async function eventually(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'troupe-interrupt-'));
  sockets = join(directory, 'sockets');
  await mkdir(sockets, { mode: 0o700 });
});

afterEach(async () => {
  if (child?.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const pid of await processesUsing(sockets)) {
    for (const target of [-pid, pid]) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        // Gone.
      }
    }
  }
  await rm(directory, { recursive: true, force: true });
});

/** Runs the example on process nodes; once it has built something, sends `signal`. */
async function interrupted(signal: 'SIGINT' | 'SIGTERM', extra: string[]) {
  const run = spawn(
    process.execPath,
    [main, '--kind', 'process', '--nodes', '2', '--projects', '300', '--work-ms', '20', ...extra],
    {
      env: { ...process.env, TMPDIR: directory, TROUPE_SOCKET_DIR: sockets },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child = run;
  let out = '';
  let err = '';
  let sent = false;
  let nodesSeen: number[] = [];
  run.stderr!.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    run.once('close', (code, killedBy) => resolve({ code, signal: killedBy })),
  );
  const send = async () => {
    if (sent) return;
    sent = true;
    nodesSeen = await processesUsing(sockets);
    run.kill(signal);
  };
  run.stdout!.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    // With --json nothing is printed before the end: the nodes' arrival is the cue.
    if (/built [1-9]\d*\/300/.test(out)) void send();
  });
  if (extra.includes('--json')) {
    expect(await eventually(async () => (await processesUsing(sockets)).length >= 2)).toBe(true);
    await send();
  }
  const exit = await exited;
  return { exit, out, err, nodesSeen };
}

describe('examples/build-graph interrupted', () => {
  it('on SIGINT it shuts down, prints the summary marked interrupted, exits 130 and leaves nothing', async () => {
    const { exit, out, err, nodesSeen } = await interrupted('SIGINT', []);

    expect(exit, err).toEqual({ code: 130, signal: null });
    expect(out).toMatch(/^interrupted by SIGINT: built \d+, failed \d+; makespan/m);
    expect(nodesSeen.length).toBeGreaterThanOrEqual(2);
    expect(await processesUsing(sockets)).toEqual([]);
    expect(await readdir(sockets)).toEqual([]);
    expect((await readdir(directory)).sort()).toEqual(['sockets']);
  });

  it('on SIGTERM with --json the line says interrupted, and it exits 143 leaving nothing', async () => {
    const { exit, out, err } = await interrupted('SIGTERM', ['--json']);

    expect(exit, err).toEqual({ code: 143, signal: null });
    const line = JSON.parse(out.trim()) as { interrupted: boolean; built: number; failed: number };
    expect(line.interrupted).toBe(true);
    expect(line.built + line.failed).toBe(300);
    expect(line.failed).toBeGreaterThan(0);
    expect(await processesUsing(sockets)).toEqual([]);
    expect(await readdir(sockets)).toEqual([]);
    expect((await readdir(directory)).sort()).toEqual(['sockets']);
  });
});
