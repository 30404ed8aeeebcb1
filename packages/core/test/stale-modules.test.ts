// A node kept for reuse must not run the old code of a task module edited since it imported it:
// it retires when the next host offers itself, and the host gets a fresh node in its place.
import { mkdtemp, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { NodeContext, ProcessNodeProvider } from '@troupe/core';
import { NodeEndpoint, NodeRegistry } from '@troupe/core/internal';
import { MemoryTransport } from '@troupe/transport';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanupSandbox, createSandbox, type Sandbox, waitUntilGone } from './support/processes.js';

const core = new URL('../dist/index.js', import.meta.url).href;

let sandbox: Sandbox;
let directory: string;

beforeEach(async () => {
  sandbox = await createSandbox();
  directory = await mkdtemp(join(tmpdir(), 'troupe-stale-modules-'));
});

afterEach(async () => {
  await cleanupSandbox(sandbox);
  await rm(directory, { recursive: true, force: true });
});

/** Writes a task module whose task `version` answers `value`; returns the task's id. */
async function writeTasks(file: string, value: number): Promise<string> {
  await writeFile(
    file,
    `import { defineTask } from ${JSON.stringify(core)};\n` +
      `export const version = defineTask({ name: 'version', run: () => ${value} });\n`,
  );
  return `${pathToFileURL(file).href}#version`;
}

/** Moves the file's mtime a second on, as a later save does (without depending on the clock's resolution). */
async function touch(file: string): Promise<void> {
  const { mtime } = await stat(file);
  const later = new Date(mtime.getTime() + 1_000);
  await utimes(file, later, later);
}

describe('task modules changed on disk', () => {
  it('a reused process node whose task module was edited is replaced by a fresh one that runs the new code', async () => {
    const file = join(directory, 'tasks.mjs');
    const task = await writeTasks(file, 1);
    const build = async () => {
      const host = new ProcessNodeProvider({
        transport: sandbox.transport,
        launcher: sandbox.launcher,
        reuse: true,
      });
      const how: string[] = [];
      host.on('node', (_node, as) => how.push(as));
      const [node] = await host.acquire(1);
      const value = await node!.request(task, null);
      await host.shutdown();
      return { how, pid: node!.pid!, value };
    };

    const first = await build();
    expect(first).toMatchObject({ how: ['launched'], value: 1 });

    // Saved again unchanged: same content, so the node is still good to reuse.
    await touch(file);
    const second = await build();
    expect(second).toEqual({ how: ['reused'], pid: first.pid, value: 1 });

    // Same size, new content.
    await writeTasks(file, 2);
    await touch(file);
    const third = await build();
    expect(third.how).toEqual(['launched']);
    expect(third.pid).not.toBe(first.pid);
    expect(third.value).toBe(2);
    // The retired node exited and took its registry record with it.
    expect(await waitUntilGone(first.pid)).toBe(true);
    const records = await new NodeRegistry(sandbox.directory).list(0);
    expect(records.map((record) => record.pid)).toEqual([third.pid]);
  });

  it('an idle endpoint whose task module changed refuses the next host with Retired, naming the module, and exits', async () => {
    const file = join(directory, 'inproc-tasks.mjs');
    const task = await writeTasks(file, 1);
    const transport = new MemoryTransport();
    const endpoint = await NodeEndpoint.start({ transport, idleTimeoutMs: 60_000 });
    const logs: string[] = [];
    endpoint.on('log', (line) => logs.push(line));
    const hosts: NodeContext[] = [];
    const host = () => {
      const node = new NodeContext({
        id: `node-stale${hosts.length}`,
        kind: 'inproc',
        nodeReuse: true,
        connect: (onLink) => transport.connect(endpoint.address, { handshake: {}, onLink }),
      });
      hosts.push(node);
      return node;
    };
    try {
      const first = host();
      await first.start(process.pid);
      expect(await first.request(task, null)).toBe(1);
      await first.close({ reuse: true });
      while (endpoint.state !== 'idle') await new Promise((resolve) => setImmediate(resolve));

      await writeTasks(file, 22);

      const refused = host().start(process.pid);
      await expect(refused).rejects.toThrow(/Retired/);
      await endpoint.exited;
      expect(endpoint.state).toBe('exiting');
      expect(logs.some((line) => line.includes(file) && line.includes('changed on disk'))).toBe(true);
    } finally {
      for (const node of hosts) await node.close({ reuse: false }).catch(() => {});
      await endpoint.exit();
    }
  });
});
