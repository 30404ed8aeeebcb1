// The JobSource contract (test/support/job-source-contract.ts) run against the embedded
// MemoryJobServer, on a virtual clock: the same fencing rules as PostgresJobSource's.
import { MemoryJobServer } from '@troupe/core';
import { VirtualClock } from '@troupe/testing';
import { describeJobSourceContract } from '../../../test/support/job-source-contract.js';

describeJobSourceContract('MemoryJobServer', async ({ leaseMs }) => {
  const clock = new VirtualClock();
  const server = new MemoryJobServer({ clock, leaseMs });
  return {
    source: server,
    add: async (job) => {
      server.add(job);
    },
    recorded: async (id) => server.get(id)?.completion,
    expire: async () => {
      clock.advance(leaseMs + 1);
    },
    close: async () => server.close(),
  };
});
