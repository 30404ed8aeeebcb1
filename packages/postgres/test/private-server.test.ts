// The private PostgreSQL server the tests run on (@troupe/testing/internal): it answers on its
// port, and stopping it leaves no server process and no folder behind, even when its owner never
// called stop (the run's global teardown sweeps with stopLeftoverPostgres).
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPrivatePostgres, stopLeftoverPostgres } from '@troupe/testing/internal';
import pg from 'pg';
import { describe, expect, it } from 'vitest';

/** Whether a process runs (a zombie waiting for its parent to reap it does not). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function postmasterPid(directory: string): number {
  return Number(readFileSync(join(directory, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
}

describe('a private PostgreSQL server', () => {
  it('serves its database on 127.0.0.1, and stop leaves no process and no folder', async () => {
    const server = await startPrivatePostgres();
    const pid = postmasterPid(server.directory);
    try {
      expect(server.url).toBe(`postgres://postgres@127.0.0.1:${server.port}/troupe`);
      const client = new pg.Client(server.url);
      await client.connect();
      const { rows } = await client.query(
        "select current_database() as db, current_setting('listen_addresses') as at",
      );
      await client.end();
      expect(rows).toEqual([{ db: 'troupe', at: '127.0.0.1' }]);
      expect(running(pid)).toBe(true);
    } finally {
      await server.stop();
    }
    expect(running(pid)).toBe(false);
    expect(existsSync(server.directory)).toBe(false);
    await server.stop();
  });

  it('a server whose owner never stopped it is stopped by the sweep of its parent folder', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'troupe-pg-sweep-'));
    // The server may run as the postgres user, who must reach its folder.
    chmodSync(parent, 0o711);
    try {
      const server = await startPrivatePostgres({ parent, database: 'left' });
      const pid = postmasterPid(server.directory);
      expect(await stopLeftoverPostgres(parent)).toEqual([server.directory]);
      expect(running(pid)).toBe(false);
      expect(existsSync(server.directory)).toBe(false);
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });

  it('says where it looked when there are no server binaries', async () => {
    await expect(startPrivatePostgres({ binDir: '/nonexistent/pg/bin' })).rejects.toThrow(
      /\/nonexistent\/pg\/bin\/initdb/,
    );
  });
});
