// Nodes that fail to start, as on a heavily loaded machine where a handshake misses its deadline:
// the build fails with a typed error, and once the runtime has shut down nothing it started is left
// (no thread, process or socket), so the host exits by itself.
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import type { Worker } from 'node:worker_threads';
import { type Clock, type NodeContext, systemClock, ThreadNodeProvider } from '@troupe/core';
import { HandshakeTimeoutError } from '@troupe/transport';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanupSandbox, createSandbox, isRunning, type Sandbox } from './support/processes.js';

const failingHost = new URL('./fixtures/handshake-timeout-host.mjs', import.meta.url).pathname;

/** The link's default handshake deadline. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * The real clock, except that the first `limit` handshake deadlines fire at once: a thread is
 * still booting then, so its handshake fails as a loaded machine's would, without the load.
 */
function deadlinesAtOnce(limit: number): Clock {
  let fired = 0;
  return {
    now: () => systemClock.now(),
    setTimeout: (fn, ms) =>
      systemClock.setTimeout(fn, ms === HANDSHAKE_TIMEOUT_MS && fired++ < limit ? 0 : ms),
    clearTimeout: (timer) => systemClock.clearTimeout(timer),
  };
}

/** A thread provider that counts the threads it made and the ones it ended. */
class CountingThreads extends ThreadNodeProvider {
  made = 0;
  ended = 0;

  protected override async create(): Promise<{ node: NodeContext; resource: Worker }> {
    const created = await super.create();
    this.made++;
    return created;
  }

  protected override async end(node: NodeContext, worker: Worker, killing: () => void): Promise<void> {
    await super.end(node, worker, killing);
    this.ended++;
  }
}

let sandbox: Sandbox;

beforeEach(async () => {
  sandbox = await createSandbox();
});

afterEach(async () => {
  await cleanupSandbox(sandbox);
});

interface HostReport {
  error?: { name: string; code: string; message: string; cause?: string };
  nodesLeft: number;
  launched: number[];
}

/** Runs the failing host; a host that does not exit by itself is killed at a generous bound. */
function runHost(
  args: string[],
): Promise<{ code: number | null; signal: string | null; report: HostReport }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [failingHost, ...args],
      { env: sandbox.env, timeout: 50_000, killSignal: 'SIGKILL' },
      (error, stdout) => {
        const line = stdout.trim().split('\n').at(-1) ?? '{}';
        const report = JSON.parse(line || '{}') as HostReport;
        for (const pid of report.launched ?? []) sandbox.pids.add(pid);
        resolve({
          code: error ? ((error.code as number | undefined) ?? null) : 0,
          signal: error?.signal ?? null,
          report,
        });
      },
    );
  });
}

describe('nodes whose handshake times out', () => {
  it('a thread acquire that fails ends every thread it started before it rejects', async () => {
    const provider = new CountingThreads({ clock: deadlinesAtOnce(1) });
    const failure = await provider.acquire(8).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(HandshakeTimeoutError);
    // The other seven started after the first one failed: they were shut down, not left running.
    expect(provider.made).toBe(8);
    expect(provider.ended).toBe(8);
    expect(provider.nodes).toHaveLength(0);
  });

  it('a build on thread nodes fails with HandshakeTimeoutError, and the host exits by itself', async () => {
    const { code, signal, report } = await runHost(['thread', '8']);
    expect(report.error).toMatchObject({ name: 'HandshakeTimeoutError', code: 'TROUPE_HANDSHAKE_TIMEOUT' });
    expect(report.nodesLeft).toBe(0);
    expect({ code, signal }).toEqual({ code: 0, signal: null });
  });

  it('a build on process nodes fails with NodeLaunchError, and the host exits leaving no process or socket', async () => {
    const { code, signal, report } = await runHost(['process', '4']);
    expect(report.error).toMatchObject({
      name: 'NodeLaunchError',
      code: 'TROUPE_NODE_LAUNCH_FAILED',
      cause: 'TROUPE_HANDSHAKE_TIMEOUT',
    });
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    // Two attempts for each of the four nodes, each attempt's process killed before the next.
    expect(report.launched).toHaveLength(8);
    for (const pid of report.launched) expect(isRunning(pid)).toBe(false);
    expect(await readdir(sandbox.directory)).toEqual([]);
  });
});
