// `troupe jobs`: core's `troupe` runs @troupe/postgres's `troupe-jobs` (found in node_modules/.bin
// or on PATH), here the real bins against a private server. The database comes from --database or
// TROUPE_DATABASE_URL; a missing extension names the package to install.
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PostgresJobSource } from '@troupe/postgres';
import { afterEach, describe, expect, it } from 'vitest';
import { type Ran, runNode } from '../../../test/support/run-node.js';
import { usePrivatePostgres } from './support/server.js';

const postgres = usePrivatePostgres();
const root = fileURLToPath(new URL('../../..', import.meta.url));
const troupe = join(root, 'packages/core/bin/troupe.js');
const fixture = fileURLToPath(new URL('./fixtures/jobs.mjs', import.meta.url));
const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

function run(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<Ran> {
  const env = { ...process.env, ...options.env };
  if (!options.env || !('TROUPE_DATABASE_URL' in options.env)) delete env.TROUPE_DATABASE_URL;
  return runNode([troupe, ...args], { env, cwd: options.cwd ?? root });
}

describe('troupe jobs', () => {
  it('migrates, adds, lists and cancels through the real bins', async () => {
    const url = await postgres.database();
    expect(await run(['jobs', 'migrate', '--database', url])).toEqual({
      code: 0,
      stdout: 'applied migration(s) 1, 2, 3; the schema is at version 3\n',
      stderr: '',
    });
    // From here on the URL comes from the environment.
    const env = { TROUPE_DATABASE_URL: url };
    const added = await run(
      [
        'jobs',
        'add',
        `${fixture}#resultOf`,
        '--message',
        '{"result":"Succeeded"}',
        '--id',
        'one',
        '--priority',
        '3',
      ],
      { env },
    );
    expect(added).toEqual({ code: 0, stdout: 'one\n', stderr: '' });
    const second = await run(
      ['jobs', 'add', 'some-package/jobs.js#deploy', '--metadata', '{"target":"qa"}'],
      { env },
    );
    expect(second.code, second.stderr).toBe(0);
    const secondId = second.stdout.trim();
    expect(secondId).toMatch(/^[0-9a-f-]{36}$/);

    const list = await run(['jobs', 'list'], { env });
    expect(list.stdout.trim().split('\n')).toEqual([
      `one\tqueued\t-\t0/5\t-\t${new URL(`file://${fixture}`).href}#resultOf`,
      `${secondId}\tqueued\t-\t0/5\t-\tsome-package/jobs.js#deploy`,
    ]);
    expect(await run(['jobs', 'metadata', secondId, '{"target":"production"}'], { env })).toMatchObject({
      code: 0,
      stdout: `${secondId}\tqueued\n`,
    });
    expect(await run(['jobs', 'cancel', 'one', '--reason', 'not today'], { env })).toMatchObject({
      code: 0,
      stdout: 'one\tcanceled\n',
    });
    const json = await run(['jobs', 'list', '--json', '--state', 'completed'], { env });
    expect(
      json.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line)),
    ).toEqual([
      expect.objectContaining({
        id: 'one',
        state: 'completed',
        result: 'Canceled',
        priority: 3,
        message: { result: 'Succeeded' },
        completion: { result: 'Canceled', reason: 'not today' },
      }),
    ]);
    const source = new PostgresJobSource({ database: url });
    cleanup.push(() => source.close());
    expect(await source.get(secondId)).toMatchObject({ state: 'queued', metadata: { target: 'production' } });

    const unknown = await run(['jobs', 'cancel', 'nobody'], { env });
    expect(unknown).toMatchObject({ code: 1, stdout: '' });
    expect(unknown.stderr).toMatch(/^troupe jobs: .*nobody/);
  });

  it('refuses a missing database, bad JSON and unknown commands with exit 2, and warns of a password in argv', async () => {
    const noDatabase = await run(['jobs', 'list']);
    expect(noDatabase).toMatchObject({ code: 2, stdout: '' });
    expect(noDatabase.stderr).toMatch(/no database: give --database URL or set TROUPE_DATABASE_URL/);
    const url = await postgres.database();
    const env = { TROUPE_DATABASE_URL: url };
    const badJson = await run(['jobs', 'add', 'x/y.js#z', '--message', '{nope'], { env });
    expect(badJson).toMatchObject({ code: 2 });
    expect(badJson.stderr).toMatch(/--message is not JSON/);
    expect((await run(['jobs', 'frob'], { env })).stderr).toMatch(/unknown command "frob"/);
    // Trust authentication ignores the password; the warning is about where it was written.
    const withPassword = url.replace('postgres@', 'postgres:secret@');
    const migrated = await run(['jobs', 'migrate', '--database', withPassword]);
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(migrated.stderr).toMatch(/password in --database is visible .* PGPASSWORD or ~\/\.pgpass/);
    // The same for a password given as a query parameter...
    const inQuery = await run([
      'jobs',
      'migrate',
      '--database',
      `${url}${url.includes('?') ? '&' : '?'}password=secret`,
    ]);
    expect(inQuery.code, inQuery.stderr).toBe(0);
    expect(inQuery.stderr).toMatch(/password in --database is visible/);
    // ...and in a URL whose host is left empty for a socket directory (which `new URL` refuses);
    // no server listens there, so the command fails after the warning.
    const socketDir = await run([
      'jobs',
      'migrate',
      '--database',
      'postgres://me:secret@/jobs?host=/nonexistent-troupe-dir',
    ]);
    expect(socketDir.code).toBe(1);
    expect(socketDir.stderr).toMatch(/password in --database is visible/);
    // No password, no warning.
    const plain = await run([
      'jobs',
      'migrate',
      '--database',
      'postgres://me@/jobs?host=/nonexistent-troupe-dir',
    ]);
    expect(plain.code).toBe(1);
    expect(plain.stderr).not.toMatch(/password in --database/);
  });

  it('troupe runs troupe-<cmd> from PATH with its exit code, and names the package when jobs is absent', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'troupe-cli-'));
    cleanup.push(() => rm(folder, { recursive: true, force: true }));
    const script = join(folder, 'troupe-hello');
    await writeFile(script, '#!/bin/sh\necho "hello $*"\nexit 3\n');
    await chmod(script, 0o755);
    const PATH = `${folder}:${dirname(process.execPath)}:/usr/bin:/bin`;
    expect(await run(['hello', 'a', '--b'], { cwd: folder, env: { PATH } })).toEqual({
      code: 3,
      stdout: 'hello a --b\n',
      stderr: '',
    });
    // Outside this repository and with nothing on PATH, there is no troupe-jobs.
    const absent = await run(['jobs', 'list'], { cwd: folder, env: { PATH } });
    expect(absent.code).toBe(2);
    expect(absent.stderr).toMatch(
      /troupe jobs comes with @troupe\/postgres, .*npm install @troupe\/postgres/,
    );
  });
});
