// The revert table: every monitor, and every check the explorer makes itself, with the broken
// variants that must keep failing it. A check no variant fails could stop biting unnoticed.
// model.test.ts checks that each variant is caught by the monitor listed for it here;
// monitors-table.test.ts that every monitor in the code is here, with a variant or with the
// reason it has none yet, and that docs/testing.md shows this table.

/** Monitor (the name it reports violations under) → the variants (`scenario/variant`) it catches. */
export const REVERT_TABLE: Readonly<Record<string, readonly string[]>> = {
  'nothing after the exit packet': ['shutdown/send-after-exit'],
  'one active request per node': [
    'build/grant-reacquire-while-busy',
    'pipeline/grant-before-staged',
    'cancel/release-node-on-cancel',
    'restart/restart-beside-first-run',
  ],
  'one active request on each node': ['restart/answer-cancel-early'],
  'one host per node': ['reuse/accept-second-host'],
  'results match the reference': ['build/lose-results-of-finished-requests'],
  'requests end once': ['build/lose-requests-on-connection-failure'],
  'jobs end once': ['jobs/complete-twice'],
  'every job one result': ['fence/report-twice'],
  'the result is the holder’s': ['fence/complete-ignores-token'],
  'one worker per job past the fence': ['fence/renew-ignores-token', 'fence/unbounded-cancel'],
  'nothing stays hot': ['build/lost-wakeup'],
  'no result of a lost incarnation applied': ['partition/apply-lost-incarnation'],
  'no progress': ['hang/trust-silent-nodes'],
  'no uncaught exceptions': ['retry/backoff-outlives-request'],
  'no unhandled errors': ['cancel/apply-late-news'],
  deadlock: ['jobs/unbounded-report'],
  scenario: ['dispatcher/no-yield'],
};

/**
 * Monitors no variant is caught by yet, and why: each is a gap in the proof, listed so that it
 * is seen (docs/testing.md) and so that a monitor added without a variant fails the table's test.
 */
export const WITHOUT_VARIANT: Readonly<Record<string, string>> = {};

/** The monitor `scenario/variant` must be caught by, from the table. */
export function monitorFor(variant: string): string | undefined {
  for (const [monitor, variants] of Object.entries(REVERT_TABLE))
    if (variants.includes(variant)) return monitor;
  return undefined;
}
