// One folder per test run for the private PostgreSQL servers tests start
// (`startPrivatePostgres` puts them under TROUPE_PG_ROOT): a server whose test file could not
// stop it (a worker that crashed or was killed) is stopped here, so a run leaves none behind.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopLeftoverPostgres } from '@troupe/testing/internal';

let root: string | undefined;

export function setup(): void {
  root = mkdtempSync(join(tmpdir(), 'troupe-pg-run-'));
  // The servers run as the `postgres` user when the tests run as root: it must reach its folder.
  chmodSync(root, 0o711);
  process.env.TROUPE_PG_ROOT = root;
}

export async function teardown(): Promise<void> {
  if (!root) return;
  try {
    const left = await stopLeftoverPostgres(root);
    if (left.length > 0)
      console.warn(`stopped ${left.length} private PostgreSQL server(s) a test left running`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
