// The public door of @troupe/postgres, name by name, and its error classes: a stable code each,
// instanceof across copies (core's brand), a message that names what it is about.

import { TroupeError } from '@troupe/core';
import * as door from '@troupe/postgres';
import { JobSourceClosedError, QueueNotMigratedError, SchemaTooNewError } from '@troupe/postgres';
import { describe, expect, it } from 'vitest';
import { describePublicDoor } from '../../../test/support/public-door.js';

describePublicDoor(
  '@troupe/postgres',
  new URL('../src/index.ts', import.meta.url),
  { index: () => import('@troupe/postgres'), internal: async () => ({}) },
  ['JobSourceClosedError', 'PostgresJobSource', 'QueueNotMigratedError', 'SchemaTooNewError', 'migrate'],
  [
    'CancelOutcome',
    'JobSpec',
    'MetadataOutcome',
    'MigrateOptions',
    'MigrateResult',
    'PostgresJob',
    'PostgresJobSourceEvents',
    'PostgresJobSourceOptions',
  ],
);

const table: Array<[string, TroupeError, string]> = [
  ['TROUPE_PG_SCHEMA_TOO_NEW', new SchemaTooNewError('troupe_jobs', 3, 1), 'troupe_jobs is at migration 3'],
  ['TROUPE_PG_SOURCE_CLOSED', new JobSourceClosedError('job a was not added'), 'job a'],
  ['TROUPE_PG_NOT_MIGRATED', new QueueNotMigratedError('troupe_jobs', new Error('relation')), 'run migrate'],
];

describe('errors of @troupe/postgres', () => {
  it.each(table)('%s: stable code, name, a TroupeError naming what it is about', (code, error, names) => {
    expect(error.code).toBe(code);
    expect(error.name).toBe(error.constructor.name);
    expect(error).toBeInstanceOf(TroupeError);
    expect(error.message).toContain(names);
  });

  it('every error class the package exports has a row', () => {
    const exported = Object.entries(door)
      .filter(([, value]) => typeof value === 'function' && value.prototype instanceof Error)
      .map(([name]) => name);
    expect(exported.sort()).toEqual(table.map(([, error]) => error.constructor.name).sort());
  });
});
