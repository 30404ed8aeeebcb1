// The no-op job of the `jobs` bench suite, as troupe runs it (in an in-process worker): it tells
// the bench's ledger that its key ran, and does nothing else. The ledger is on globalThis
// (src/jobs/ledger.ts), so whichever copy of this module a worker loads writes to the same one.
import { defineJob } from '@troupe/core';

const key = Symbol.for('troupe.bench.jobs.ledger');

export const noopJob = defineJob({
  name: 'noopJob',
  run: (message) => {
    const ledger = globalThis[key];
    ledger.started(message);
    ledger.ended(message);
  },
});
