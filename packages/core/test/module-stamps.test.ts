// Task module stamps are kept per process (every in-process node stamps the same files): a node
// that loads a file after it was edited must get the edited file's stamp, never the kept one.
import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TaskModules } from '../src/endpoint/modules.js';

let directory: string;

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'troupe-module-stamps-'));
});

afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

/**
 * Sets the file's mtime to its `save`-th later save, a second apart: never two saves on one
 * mtime. (It moved the mtime a second on from the file's own, read as a Date, so to the
 * millisecond: two writes within one millisecond then got the same mtime, and two contents of one
 * size on one mtime are one file to the stamps by rule, as to make and git's stat check. CI saw
 * that once.)
 */
async function touch(file: string, save: number): Promise<void> {
  const at = new Date(Date.UTC(2030, 0, 1) + save * 1_000);
  await utimes(file, at, at);
}

describe('task module stamps kept per process', () => {
  it('are taken again for a file edited since, by each node that loads it', async () => {
    const file = join(directory, 'tasks.mjs');
    const url = pathToFileURL(file).href;
    await writeFile(file, 'export const answer = 1;\n');
    const first = new TaskModules();
    const second = new TaskModules();
    expect((await first.load(url)).answer).toBe(1);
    expect((await second.load(url)).answer).toBe(1);
    expect([first.changed(), second.changed()]).toEqual([undefined, undefined]);

    // Edited: a longer file. Both nodes that imported the old one see it.
    await writeFile(file, 'export const answer = 22;\n');
    await touch(file, 1);
    expect(first.changed()).toBe(`${url} (${file}) changed on disk`);
    expect(second.changed()).toBe(`${url} (${file}) changed on disk`);

    // A node that loads it now stamps the edited file, not the stamp kept from before.
    const third = new TaskModules();
    await third.load(url);
    expect(third.changed()).toBeUndefined();

    // Same size, other bytes, a later mtime: read and hashed again, so a change.
    await writeFile(file, 'export const answer = 33;\n');
    await touch(file, 2);
    expect(third.changed()).toBe(`${url} (${file}) changed on disk`);
    // And back to the bytes `third` stamped, with yet another mtime: the hash says no change.
    await writeFile(file, 'export const answer = 22;\n');
    await touch(file, 3);
    expect(third.changed()).toBeUndefined();
  });
});
