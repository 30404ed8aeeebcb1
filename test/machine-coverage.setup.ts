// In each test worker: record which states and transitions of troupe's machines the tests reach,
// and leave the record where the global teardown (machine-coverage.global.ts) reads it.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MachineCoverage } from '@troupe/testing/internal';
import { setMachineInspector } from '@troupe/transport/internal';
import { afterAll } from 'vitest';

const directory = process.env.TROUPE_MACHINE_COVERAGE_DIR;
if (directory) {
  const coverage = new MachineCoverage();
  const restore = setMachineInspector(coverage.inspect);
  afterAll(() => {
    restore();
    const file = join(directory, `${process.pid}-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, JSON.stringify(coverage.data));
  });
}
