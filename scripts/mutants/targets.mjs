// What `npm run check:mutants` mutates and what it runs against each mutant: for each area of the
// runtime, its files, the test files that exercise it (most of troupe's tests import the public
// door, so a map from imports would name every test for every file: this table is chosen by hand,
// leaving out those that run whole example programs) and the model checker's scenarios whose worlds run it.

const core = (names) => names.map((n) => `packages/core/test/${n}.test.ts`);
const transport = (names) => names.map((n) => `packages/transport/test/${n}.test.ts`);

export const areas = [
  {
    name: 'scheduler',
    package: 'core',
    files: [/^packages\/core\/src\/scheduler\/[^/]+\.ts$/],
    tests: core([
      'scheduler',
      'scheduler-quality',
      'scheduler-growth',
      'scheduler-retry',
      'queue',
      'queue-mutants',
      'scheduler-mutants',
      'declared-mutants',
      'retry',
      'declared-deps',
      'oracle',
    ]),
    scenarios: ['build', 'pipeline', 'cancel', 'dispatcher', 'restart', 'retry', 'hang'],
  },
  {
    name: 'node context',
    package: 'core',
    files: [/^packages\/core\/src\/nodes\/(context|node-context\.machine)\.ts$/],
    tests: core(['node-context', 'node-context-mutants', 'liveness', 'inproc-thread-nodes', 'oracle']),
    scenarios: ['build', 'hang', 'reuse', 'shutdown', 'cancel', 'retry'],
  },
  {
    name: 'endpoint',
    package: 'core',
    files: [/^packages\/core\/src\/endpoint\/(endpoint|endpoint\.machine|requests)\.ts$/],
    tests: core([
      'endpoint',
      'endpoint-mutants',
      'shutdown-after-cancel',
      'first-run',
      'oracle',
      'inproc-thread-nodes',
    ]),
    scenarios: ['build', 'cancel', 'pipeline', 'shutdown', 'reuse', 'restart'],
  },
  {
    name: 'link',
    package: 'transport',
    files: [/^packages\/transport\/src\/(link|machines\/link\.machine)\.ts$/],
    tests: [
      ...transport(['link-lifecycle', 'link-mutants', 'admission', 'security', 'transports']),
      ...core(['node-context', 'oracle']),
    ],
    scenarios: ['build', 'hang', 'shutdown', 'reuse'],
  },
  {
    name: 'dispatcher',
    package: 'core',
    // Its OpenTelemetry spans and trace records only describe what happens: not mutated.
    files: [/^packages\/core\/src\/dispatch\/(?!otel-spans|trace)[^/]+\.ts$/],
    tests: core([
      'dispatcher-run',
      'job-fencing',
      'jobs',
      'job-source-contract',
      'job-workers',
      'job-warm-workers',
    ]),
    scenarios: ['jobs', 'fence', 'dispatcher'],
  },
];

/** The area a repository-relative source file belongs to, if any. */
export function areaOf(file) {
  return areas.find((a) => a.files.some((re) => re.test(file)));
}
