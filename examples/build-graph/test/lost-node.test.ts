// The example with a node killed mid-run: the counts, the error and the exit code must tell the
// same story (before, the dependents of the lost node's projects built them again and the run
// exited 1 with `"built":300,"failed":0` beside an error).
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const main = new URL('../dist/main.js', import.meta.url).pathname;
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Live processes started with `TROUPE_SOCKET_DIR=directory` (Linux: /proc), but not `except`. */
function processesUsing(directory: string, except: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid || pid === except) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.charAt(stat.lastIndexOf(')') + 2) === 'Z') continue;
      if (readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`TROUPE_SOCKET_DIR=${directory}`))
        found.push(pid);
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return found.sort((a, b) => a - b);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.runIf(process.platform === 'linux')('examples/build-graph with a node lost mid-run', () => {
  // Declared (default): the node holds the project it runs, and the dependents fail without
  // running. Discovered: every node soon holds many projects blocked on their dependencies.
  it.each([
    ['declared', []],
    ['discovered', ['--discover']],
  ])(
    'a node SIGKILLed mid-run, dependencies %s: built + failed is every project, the error names the node, exit code 1',
    async (_model, extra) => {
      const directory = await mkdtemp(join(tmpdir(), 'troupe-graph-lost-'));
      cleanups.push(() => rm(directory, { recursive: true, force: true }));
      const projects = 150;
      const child = spawn(
        process.execPath,
        [
          main,
          '--kind',
          'process',
          '--nodes',
          '3',
          '--projects',
          String(projects),
          // 6 s of CPU on 2 cores: the run lasts seconds past the kill, however fast the machine.
          '--work-ms',
          '40',
          '--json',
          ...extra,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TROUPE_SOCKET_DIR: directory } },
      );
      cleanups.push(async () => {
        for (const pid of [child.pid!, ...processesUsing(directory, -1)]) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // Already gone.
          }
        }
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
      });
      child.stderr.on('data', (chunk: Buffer) => {
        err += chunk.toString();
      });
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

      // All three nodes listen (their sockets exist, and the host connects at once) and the
      // projects have started: kill one.
      const listening = () =>
        readdirSync(directory)
          .map((name) => /^troupe-node-(\d+)\.sock$/.exec(name)?.[1])
          .filter((pid): pid is string => pid !== undefined)
          .map(Number);
      let nodes: number[] = [];
      for (let i = 0; i < 2_000 && nodes.length < 3; i++) {
        await sleep(10);
        nodes = listening();
      }
      expect(nodes).toHaveLength(3);
      await sleep(500);
      const victim = nodes[0]!;
      process.kill(victim, 'SIGKILL');

      const code = await exited;
      const line = JSON.parse(out.trim().split('\n').at(-1)!) as {
        built: number;
        failed: number;
        lostNodes: number;
        error?: string;
      };
      expect(err).toBe('');
      // The node held requests when it died: they failed, and so did what depends on them.
      expect(line.failed).toBeGreaterThan(0);
      expect(line.built + line.failed).toBe(projects);
      expect(line.lostNodes).toBe(1);
      expect(line.error).toContain(`(pid ${victim}) failed, killed by SIGKILL`);
      expect(line.error).toContain(`${line.failed} of ${projects} projects not built`);
      expect(line.error).toMatch(/\(\d+ held by a lost node/);
      expect(code).toBe(1);
    },
  );
});
