// One private PostgreSQL server per test file (started in beforeAll, stopped in afterAll, which
// vitest runs when tests fail too; the run's global teardown stops it if even that never ran), and
// a fresh database per test, so tests share nothing but the server.
import { type PrivatePostgres, startPrivatePostgres } from '@troupe/testing/internal';
import { afterAll, beforeAll } from 'vitest';

export interface TestServer {
  /** A new, empty database on the file's server. */
  database(): Promise<string>;
  readonly server: PrivatePostgres;
}

export function usePrivatePostgres(): TestServer {
  let server: PrivatePostgres | undefined;
  let count = 0;
  // initdb and the server's start take a second or two here, more on a loaded machine.
  beforeAll(async () => {
    server = await startPrivatePostgres({ startTimeoutMs: 60_000 });
  }, 90_000);
  afterAll(async () => {
    await server?.stop();
  }, 60_000);
  return {
    database: () => {
      if (!server) throw new Error('the private PostgreSQL server is not running (beforeAll failed)');
      return server.createDatabase(`test_${++count}`);
    },
    get server() {
      if (!server) throw new Error('the private PostgreSQL server is not running (beforeAll failed)');
      return server;
    },
  };
}
