// What the docs test (test/docs.test.ts) supplies to the snippets of README.md and docs/*.md, and
// which test covers each shell command they show.
//
// A snippet names what it leaves to the reader with a marker right above its fence:
//
//     <!-- placeholders: doTheWork, ./tasks.js -->
//
// A name is a declaration put before the snippet's code (so its line numbers move by the
// prelude's lines, which are kept to one each); `./file` is a module written beside it. Keep them
// trivial: the test is whether the snippet's own code runs against troupe as it is, not theirs.

export const placeholders: Readonly<Record<string, string>> = {
  // README, "Requests that depend on each other": the lock is any value, the work is the result.
  fetchLockFromOutside: "const fetchLockFromOutside = async (project) => 'lock of ' + project;",
  doTheWork:
    "const doTheWork = async (project, lock, signal) => (signal.throwIfAborted(), project + ' built');",
  // README, "Jobs": a deploy that is done at once.
  doTheDeploy: 'const doTheDeploy = async (message, signal) => signal.throwIfAborted();',
  // docs/testing.md: the tasks its scenario builds.
  './tasks.js': [
    "import { defineTask } from '@troupe/core';",
    "export const compile = defineTask({ name: 'compile', run: (project) => project + ' compiled' });",
    '',
  ].join('\n'),
};

/**
 * Where a shell command of the docs is run by a test (`how` says what that test runs of it, when
 * not the command exactly as printed), or why no test runs it.
 */
export type Coverage =
  | { readonly test: string; readonly name: string; readonly how?: string }
  | { readonly notRun: string };

/**
 * Every command in a ```sh block of README.md and docs/*.md, as printed (comments dropped). The
 * docs test fails on a command missing here, on an entry no document shows any more, and on a
 * `test` file that does not contain `name`.
 */
export const shellCommands: Readonly<Record<string, Coverage>> = {
  "npm start -- --nodes 2 --remote 'ssh build-02 --' --remote 'ssh build-03 --'": {
    test: 'examples/build-graph/test/remote.test.ts',
    name: 'builds on 1 local and 2 remote nodes to the sequential evaluation, and --json says who built what',
    how: "dist/main.js with --remote 'env --' and a shell prefix on this machine instead of ssh to two others (test/remote runs ssh into a network namespace)",
  },
  "npm start -- --nodes 0 --remote 'kubectl exec -i builder-0 --'": {
    notRun:
      'it needs a Kubernetes cluster; the same launch path runs in examples/build-graph/test/remote.test.ts with a local prefix',
  },
  'troupe node --listen tcp://0.0.0.0:0 --secret-stdin': {
    test: 'packages/core/test/remote.test.ts',
    name: 'start through a prefix, build a graph to the reference value, and end with the launcher session',
    how: 'launched by RemoteNodeProvider through a shell prefix, the secret written to its stdin',
  },
  'troupe node --listen tcp://0.0.0.0:7400 --reuse --secret-file /etc/troupe/secret': {
    test: 'packages/core/test/remote.test.ts',
    name: 'serve two hosts in turn, and go back to waiting after each',
    how: "on tcp://127.0.0.1:0 with --secret-env, as a port and a file under /etc are not a test's to take",
  },
  'npm ci && npm start': {
    test: 'examples/build-graph/test/build-graph.test.ts',
    name: 'reads a graph file, and the command prints one JSON line and exits non-zero on failure',
    how: 'dist/main.js (what npm start runs after the build) with --simulate and small graphs; the default 800 projects on 16 thread nodes only in buildGraph, simulated',
  },
  'npm run check:mutants -- --count 30 --seed 1': {
    notRun:
      'a mutation run rebuilds a package and runs tests and the model checker per mutant (about 40 minutes for 30): too slow for CI, as docs/testing.md says',
  },
  'npm run check:mutants -- --list --count 30': {
    notRun:
      'part of the mutation run (scripts/check-mutants.mjs), which is not in CI; --list only prints the mutants it would make',
  },
  "npm run check:mutants -- --only 'queue.ts:67 operator'": {
    notRun:
      'part of the mutation run (scripts/check-mutants.mjs), which is not in CI: one mutant, still a rebuild and its tests',
  },
  'npm ci && npm test': {
    notRun:
      'it is CI itself (.ci/run: npm ci, typecheck, lint, npm test); a test cannot run the suite it is part of',
  },
  'npm run job-agent': {
    test: 'examples/job-agent/test/job-agent.test.ts',
    name: '--json: one line per job with its result, and no worker process remains',
    how: 'dist/main.js with --json; the text output differs only in how each line is printed',
  },
  'npm start -- --kind thread --nodes 3 --projects 60 --work-ms 150 --dashboard': {
    test: 'examples/build-graph/test/dashboard.test.ts',
    name: 'shows a real run as it goes, and keeps its last state after the run has ended',
    how: 'dist/main.js --kind thread --dashboard on 2 nodes and fewer projects, the page opened in chromium',
  },
  'npm run job-agent -- --dashboard 8080': {
    test: 'packages/core/test/dashboard.test.ts',
    name: "a page of a job dispatcher sees each job's result as the source got it",
    how: 'JobDispatcher.serveDashboard, which the flag calls, on a free port: 8080 may be taken on a test machine',
  },
  'TROUPE_DASHBOARD_TOKEN=$(openssl rand -hex 16) npm start -- --dashboard 8080 --dashboard-host 0.0.0.0': {
    test: 'packages/core/test/dashboard.test.ts',
    name: 'binds beyond 127.0.0.1 only with a token, compared on every request; refuses what is not a read',
    how: 'serveDashboard with a token on 127.0.0.2 and a free port: a test binds loopback only, never 0.0.0.0',
  },
  'npm run job-agent -- --json': {
    test: 'examples/job-agent/test/job-agent.test.ts',
    name: '--json: one line per job with its result, and no worker process remains',
    how: 'dist/main.js --json, as printed',
  },
  'npm run check:model': {
    test: 'packages/testing/test/model.test.ts',
    name: 'model check: the broken variants are found and replayed',
    how: 'every scenario and broken variant, on a smaller budget and without the command-line wrapper (bin/check-model.js)',
  },
  'npm run check:model -- --json': {
    test: 'packages/testing/test/shrink.test.ts',
    name: '--json: a variant found has steps and shrunkSteps; --trace: its shrunk schedule told as a story',
    how: 'one scenario (shutdown) on a small budget, on the calling thread',
  },
  'npx troupe node --listen pipe': {
    test: 'packages/core/test/cli.test.ts',
    name: '--listen pipe prints one JSON line with a socket path in the per-user directory, and serves a host there',
  },
  'npx troupe node --listen tcp://127.0.0.1:0 --secret-file ~/.troupe-secret': {
    test: 'packages/core/test/security.test.ts',
    name: '--secret-file: refused when group or others can read it, used when only its owner can',
  },
  'npx troupe nodes list': {
    test: 'packages/core/test/cli.test.ts',
    name: 'list shows each idle reusable node on one line starting with its pid',
  },
  'npx troupe nodes shutdown': {
    test: 'packages/core/test/cli.test.ts',
    name: 'shutdown makes every idle reusable node exit',
  },
};
