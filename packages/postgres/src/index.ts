// @troupe/postgres's public door: jobs from a PostgreSQL table that many agents share, with
// fenced leases timed by the database's clock (docs/jobs.md).
export type { CancelOutcome, MetadataOutcome } from './controls.js';
export { JobSourceClosedError, QueueNotMigratedError, SchemaTooNewError } from './errors.js';
export { type MigrateOptions, type MigrateResult, migrate } from './migrations.js';
export type { JobSpec, PostgresJob, PostgresJobSourceEvents, PostgresJobSourceOptions } from './options.js';
export { PostgresJobSource } from './source.js';
