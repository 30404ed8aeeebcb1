// The JobSource contract (test/support/job-source-contract.ts) run against the embedded
// MemoryJobServer, on a virtual clock. It neither takes a job again when its lease runs out nor
// fences completions yet, so those two parts of the contract run only against sources that do.
import { MemoryJobServer } from '@troupe/core';
import { VirtualClock } from '@troupe/testing';
import { describeJobSourceContract } from '../../../test/support/job-source-contract.js';

describeJobSourceContract(
  'MemoryJobServer',
  async ({ leaseMs }) => {
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
  },
  { retakesExpiredLeases: false, fencesCompletion: false },
);
