// Where defineTask and defineJob find the module that defined a task or job, and the one shape
// both take.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { defineJob } from '@troupe/core';
import { isJob } from '@troupe/core/internal';
import { afterEach, describe, expect, it } from 'vitest';

const core = new URL('../dist/index.js', import.meta.url).href;
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describe('defineTask and defineJob', () => {
  it('a task defined in a package under node_modules names that package’s file as its module', async () => {
    // The module was found by matching path strings, which skipped every node_modules frame: a
    // task from an installed package got the wrong module (or none).
    const directory = await mkdtemp(join(tmpdir(), 'troupe-define-'));
    cleanups.push(() => rm(directory, { recursive: true, force: true }));
    const file = join(directory, 'node_modules', 'acme-tasks', 'index.mjs');
    await mkdir(join(directory, 'node_modules', 'acme-tasks'), { recursive: true });
    await writeFile(
      file,
      `import { defineTask, defineJob } from ${JSON.stringify(core)};\n` +
        `export const compile = defineTask({ name: 'compile', run: (x) => x });\n` +
        `export const deploy = defineJob({ name: 'deploy', run: () => 'Succeeded' });\n`,
    );
    const module = (await import(pathToFileURL(file).href)) as {
      compile: { module: string; id: string };
      deploy: { module: string; id: string };
    };
    expect(module.compile.module).toBe(pathToFileURL(file).href);
    expect(module.compile.id).toBe(`${pathToFileURL(file).href}#compile`);
    expect(module.deploy.id).toBe(`${pathToFileURL(file).href}#deploy`);
  });

  it('defineJob takes the shape defineTask takes, and the first form still works', () => {
    const run = () => 'Succeeded' as const;
    const job = defineJob({ name: 'deploy', run });
    const old = defineJob(run, { name: 'deploy' });
    expect(isJob(job)).toBe(true);
    expect(job.id).toBe(old.id);
    expect(job.id).toMatch(/define\.test\.ts#deploy$/);
    expect(job.run).toBe(run);
    expect(() => defineJob({ name: 'nothing' } as never)).toThrow(/needs a run function/);
  });
});
