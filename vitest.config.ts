import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'examples/*/test/**/*.test.ts', 'bench/test/**/*.test.ts'],
    // Tests that open sockets or start processes clean up in afterEach hooks;
    // a generous hook timeout keeps a slow CI machine from leaving them half-done.
    hookTimeout: 30_000,
    testTimeout: 60_000,
    pool: 'forks',
    // troupe's packages run as Node loads them (their built dist/), not through Vitest's module
    // runner: nodes import task modules with Node's own loader, and so must the tests.
    server: { deps: { external: [/\/(packages\/(core|transport|testing)|examples\/[^/]+|bench)\/dist\//] } },
  },
});
