import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessNodeProvider, shutdownAll } from '@troupe/core';
import { PipeTransport } from '@troupe/transport';
import { alternate, type Row, row, type SuiteOptions } from '../measure.js';

/** Milliseconds to start `node -e 0` and wait for it to exit. */
function spawnOnce(): Promise<number> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', () => resolve(performance.now() - start));
  });
}

/** `node -e 0` twice, one after the other: the literal reading of the baseline. */
async function spawnTwiceInTurn(): Promise<number> {
  return (await spawnOnce()) + (await spawnOnce());
}

/** Milliseconds to start `node -e 0` twice, in parallel, until both exited: the floor for any node. */
function spawnTwice(): Promise<number> {
  const start = performance.now();
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
      child.once('error', reject);
      child.once('exit', () => resolve());
    });
  return Promise.all([one(), one()]).then(() => performance.now() - start);
}

/** Milliseconds until two fresh process nodes accepted this host. */
async function freshTwo(directory: string): Promise<number> {
  const provider = new ProcessNodeProvider({ transport: new PipeTransport({ directory }) });
  const start = performance.now();
  const nodes = await provider.acquire(2);
  const elapsed = performance.now() - start;
  await provider.shutdown(nodes);
  return elapsed;
}

/** Milliseconds until two idle reusable nodes (started beforehand) accepted this host. */
async function reusedTwo(directory: string): Promise<number> {
  const transport = new PipeTransport({ directory });
  const starter = new ProcessNodeProvider({ reuse: true, transport });
  await starter.shutdown(await starter.acquire(2));
  const provider = new ProcessNodeProvider({ reuse: true, transport });
  let reused = 0;
  provider.on('node', (_node, how) => {
    if (how === 'reused') reused++;
  });
  const start = performance.now();
  const nodes = await provider.acquire(2);
  const elapsed = performance.now() - start;
  await provider.shutdown(nodes, { reuse: false });
  if (reused !== 2) throw new Error(`expected 2 reused nodes, got ${reused}`);
  return elapsed;
}

export async function nodesSuite({ quick }: SuiteOptions): Promise<Row[]> {
  const directory = await mkdtemp(join(tmpdir(), 'troupe-bench-nodes-'));
  const rounds = quick ? 1 : 7;
  try {
    // Warm the file cache so neither side pays for the first read of node's binary.
    await spawnTwice();
    await freshTwo(directory);
    const fresh = await alternate(rounds, spawnTwice, () => freshTwo(directory));
    const rows = [row('nodes', '2 fresh nodes ready vs node -e 0 twice, in parallel', 'ms', fresh, '<= 1.5')];
    const inTurn = await alternate(rounds, spawnTwiceInTurn, () => freshTwo(directory));
    rows.push(row('nodes', '2 fresh nodes ready vs node -e 0 twice, in turn', 'ms', inTurn, '<= 1.5'));
    const reuse = await alternate(
      rounds,
      () => freshTwo(directory),
      () => reusedTwo(directory),
    );
    rows.push(row('nodes', '2 reused nodes vs 2 fresh nodes', 'ms', reuse, '<= 0.1'));
    return rows;
  } finally {
    await shutdownAll({ transport: new PipeTransport({ directory }) });
    await rm(directory, { recursive: true, force: true });
  }
}
