// Machine coverage over the whole test run: every state and every transition of every troupe
// machine (listed from the machine definitions with xstate/graph) must be reached by some test or
// explored schedule. The run fails naming what none reached.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  jobSlotMachine,
  nodeContextMachine,
  nodeEndpointMachine,
  schedulerMachine,
} from '@troupe/core/internal';
import { type CoverageData, MachineCoverage } from '@troupe/testing/internal';
import { linkMachine, writerQueueMachine } from '@troupe/transport/internal';

let directory: string | undefined;

export function setup(): void {
  directory = mkdtempSync(join(tmpdir(), 'troupe-machine-coverage-'));
  process.env.TROUPE_MACHINE_COVERAGE_DIR = directory;
}

export function teardown(): void {
  if (!directory) return;
  const coverage = new MachineCoverage();
  const files = readdirSync(directory);
  for (const file of files)
    coverage.merge(JSON.parse(readFileSync(join(directory, file), 'utf8')) as CoverageData);
  rmSync(directory, { recursive: true, force: true });
  // A partial run (one file, a filter) cannot be expected to reach everything.
  if (process.env.TROUPE_MACHINE_COVERAGE !== 'require') return;
  const missing = coverage.missing([
    linkMachine,
    writerQueueMachine,
    nodeContextMachine,
    nodeEndpointMachine,
    schedulerMachine,
    jobSlotMachine,
  ]);
  if (missing.length > 0) {
    // Vitest reports an error thrown here but still exits 0; the exit code is set by hand.
    process.exitCode = 1;
    throw new Error(
      `machine coverage: ${missing.length} state(s)/transition(s) that no test or explored schedule reached:\n  ${missing.join('\n  ')}`,
    );
  }
}
