// The example with remote nodes, on this machine: `--remote` launches a node through a real
// command prefix beside the local ones. The outputs are checked against a sequential evaluation
// (the example's `verified`), `--json` says where each node ran and how much it did, and no
// process is left behind.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { NodeReport } from '../dist/build.js';
import { parseCommand, UsageError } from '../dist/options.js';

const main = new URL('../dist/main.js', import.meta.url).pathname;

/** Live processes started with `TROUPE_SOCKET_DIR=directory` (Linux: /proc). */
function processesUsing(directory: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.charAt(stat.lastIndexOf(')') + 2) === 'Z') continue;
      if (readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`TROUPE_SOCKET_DIR=${directory}`))
        found.push(pid);
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return found;
}

function run(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [main, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    child.on('exit', (code) => resolve({ code, out, err }));
  });
}

describe('examples/build-graph --remote', () => {
  it('--remote is repeatable and shell-split, --nodes 0 is remote only, and it goes with process nodes only', () => {
    const command = parseCommand([
      '--remote',
      'ssh build-02 --',
      '--remote',
      `sh -c '"$@"' sh`,
      '--nodes',
      '0',
    ]);
    if (command.help) throw new Error('expected a build');
    expect(command.options.remote).toEqual([
      ['ssh', 'build-02', '--'],
      ['sh', '-c', '"$@"', 'sh'],
    ]);
    expect(command.options.nodes).toBe(0);
    expect(command.options.kind).toBe('process');
    expect(() => parseCommand(['--nodes', '0'])).toThrow(/--nodes must be a positive number, not 0/);
    expect(() => parseCommand(['--remote', 'ssh b --', '--kind', 'thread'])).toThrow(
      /--remote runs beside process nodes \(--kind process\), not thread ones/,
    );
    expect(() => parseCommand(['--remote', 'ssh b --', '--simulate'])).toThrow(UsageError);
    expect(() => parseCommand(['--remote', "ssh 'b"])).toThrow(UsageError);
  });

  it('builds on 1 local and 2 remote nodes to the sequential evaluation, and --json says who built what', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'troupe-remote-example-'));
    try {
      const ran = await run(
        [
          '--projects',
          '40',
          '--work-ms',
          '1',
          '--nodes',
          '1',
          '--remote',
          'env --',
          '--remote',
          `sh -c '"$@"' sh`,
          '--json',
        ],
        { ...process.env, TROUPE_SOCKET_DIR: directory, TROUPE_SECRET: '' },
      );
      expect(ran.err).toBe('');
      expect(ran.code).toBe(0);
      const result = JSON.parse(ran.out) as { built: number; verified: boolean; nodes: NodeReport[] };
      expect(result.built).toBe(40);
      expect(result.verified).toBe(true);
      expect(result.nodes.map((node) => node.where).sort()).toEqual(['env --', 'local', 'sh -c "$@" sh']);
      expect(new Set(result.nodes.map((node) => node.pid)).size).toBe(3);
      expect(result.nodes.reduce((total, node) => total + node.completed, 0)).toBe(40);
      expect(processesUsing(directory)).toEqual([]);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
