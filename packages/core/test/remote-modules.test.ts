// Task modules named by package (`@acme/build-tasks#compile`) are resolved from the node's working
// directory, where a remote machine's project installs them, not from troupe's own place; a node
// that cannot load one answers with an error naming the node, the module and why.
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRuntime } from '@troupe/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanupSandbox, createSandbox, type Sandbox, waitUntilGone } from './support/processes.js';

const core = fileURLToPath(new URL('..', import.meta.url));

let sandbox: Sandbox;
let project: string;

beforeEach(async () => {
  sandbox = await createSandbox();
  // A project elsewhere on the machine: its own node_modules with the task package (exports for
  // `import` only, as ESM packages often are) and troupe itself.
  project = await mkdtemp(join(tmpdir(), 'troupe-project-'));
  const tasks = join(project, 'node_modules', '@acme', 'build-tasks');
  await mkdir(tasks, { recursive: true });
  await mkdir(join(project, 'node_modules', '@troupe'), { recursive: true });
  await symlink(core, join(project, 'node_modules', '@troupe', 'core'));
  await writeFile(
    join(tasks, 'package.json'),
    JSON.stringify({ name: '@acme/build-tasks', type: 'module', exports: { '.': { import: './index.js' } } }),
  );
  await writeFile(
    join(tasks, 'index.js'),
    `import { defineTask } from '@troupe/core';
export const compile = defineTask({ name: 'compile', run: (name) => ({ compiled: name.toUpperCase(), cwd: process.cwd() }) });
`,
  );
});

afterEach(async () => {
  await cleanupSandbox(sandbox);
  await rm(project, { recursive: true, force: true });
});

describe('task packages on a remote node', () => {
  it('resolve from the node working directory, and a missing one is named with the node', async () => {
    const runtime = createRuntime({
      nodes: {
        kind: 'remote',
        launch: [{ prefix: ['env', '--'], cwd: project }],
        process: { launcher: sandbox.launcher },
      },
    });
    try {
      expect(await runtime.build({ task: '@acme/build-tasks#compile', input: 'lib' })).toEqual({
        compiled: 'LIB',
        cwd: project,
      });
      const error = await runtime
        .build({ task: '@acme/lint-tasks#lint', input: 'lib' })
        .catch((caught: Error) => caught);
      expect(error).toBeInstanceOf(Error);
      const message = (error as Error).message;
      expect(message).toMatch(/node-\S+/);
      expect(message).toContain(`could not load @acme/lint-tasks (from ${project})`);
      expect(message).toMatch(/Cannot find package '@acme\/lint-tasks'/);
    } finally {
      await runtime.shutdown();
    }
    for (const pid of sandbox.launched) expect(await waitUntilGone(pid)).toBe(true);
  });
});
