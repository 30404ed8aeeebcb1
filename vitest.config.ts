import { defineConfig } from 'vitest/config';

export default defineConfig(({ mode }) => {
  // `vitest run --mode full` (npm test) is the whole suite: every machine state and transition
  // must be reached (test/machine-coverage.global.ts). A partial run only records.
  if (mode === 'full') process.env.TROUPE_MACHINE_COVERAGE = 'require';
  return {
    test: {
      include: [
        'test/**/*.test.ts',
        'packages/*/test/**/*.test.ts',
        'examples/*/test/**/*.test.ts',
        'bench/test/**/*.test.ts',
      ],
      // Tests that open sockets or start processes clean up in afterEach hooks;
      // a generous hook timeout keeps a slow CI machine from leaving them half-done.
      hookTimeout: 30_000,
      testTimeout: 60_000,
      pool: 'forks',
      // Machine coverage: each worker records what the tests reach; the teardown checks it all.
      setupFiles: ['test/machine-coverage.setup.ts'],
      // Private PostgreSQL servers (packages/postgres) live in one folder per run, so the teardown
      // can stop any a crashed test worker left running.
      globalSetup: ['test/machine-coverage.global.ts', 'test/postgres.global.ts'],
      // troupe's packages run as Node loads them (their built dist/), not through Vitest's module
      // runner: nodes import task modules with Node's own loader, and so must the tests.
      server: {
        deps: { external: [/\/(packages\/(core|transport|testing|postgres)|examples\/[^/]+|bench)\/dist\//] },
      },
    },
  };
});
