// Where a job queue lives in the database: its schema's name, checked once and quoted for SQL,
// and the names derived from it (the NOTIFY channel, the migration lock's key).
import { InvalidOptionError } from '@troupe/core';

export const DEFAULT_SCHEMA = 'troupe_jobs';

export interface QueueNames {
  /** The schema, unquoted. */
  readonly schema: string;
  /** `"schema"`, ready for SQL. */
  readonly quoted: string;
  /** The channel a NOTIFY on each added batch of jobs goes to (quoted for LISTEN). */
  readonly channel: string;
  readonly quotedChannel: string;
  /** The channel a cancel or metadata update of a leased job goes to; its payload is the job's id. */
  readonly controlChannel: string;
  readonly quotedControlChannel: string;
}

/** Checks a schema name (lower-case letters, digits, underscores: no quoting surprises). */
export function queueNames(schema: string = DEFAULT_SCHEMA, option = 'schema'): QueueNames {
  if (typeof schema !== 'string' || !/^[a-z_][a-z0-9_]{0,40}$/.test(schema)) {
    throw new InvalidOptionError(
      option,
      'a lower-case SQL name (letters, digits, underscores; at most 41)',
      schema,
    );
  }
  const channel = `${schema}.added`;
  const controlChannel = `${schema}.control`;
  return {
    schema,
    quoted: `"${schema}"`,
    channel,
    quotedChannel: `"${channel}"`,
    controlChannel,
    quotedControlChannel: `"${controlChannel}"`,
  };
}
