// The errors of @troupe/postgres, each with a stable code (see @troupe/core's errors.ts). The job
// source's refusals themselves are core's (`LeaseLostError`, `UnknownJobError`,
// `DuplicateJobError`), so an agent handles them the same whatever its source.
import { TroupeError } from '@troupe/core';

/** The database's job schema was migrated by a newer troupe than this one. */
export class SchemaTooNewError extends TroupeError {
  static override readonly code = 'TROUPE_PG_SCHEMA_TOO_NEW';
  constructor(
    readonly schema: string,
    readonly found: number,
    readonly known: number,
  ) {
    super(
      `schema ${schema} is at migration ${found}, newer than this troupe knows (${known}): ` +
        'upgrade @troupe/postgres on this agent',
    );
  }
}

/** The job source was closed: it takes, renews and completes no more jobs. */
export class JobSourceClosedError extends TroupeError {
  static override readonly code = 'TROUPE_PG_SOURCE_CLOSED';
  constructor(what: string) {
    super(`the PostgreSQL job source is closed; ${what}`);
  }
}

/** The queue's schema is not in the database: nobody ran `migrate` (or the source's `migrate: true`). */
export class QueueNotMigratedError extends TroupeError {
  static override readonly code = 'TROUPE_PG_NOT_MIGRATED';
  constructor(
    readonly schema: string,
    cause: unknown,
  ) {
    super(
      `the job queue's schema ${schema} is not in this database: run migrate(url) (troupe jobs migrate) ` +
        'first, or open the source with migrate: true',
      { cause },
    );
  }
}
