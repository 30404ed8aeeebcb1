// What the `jobs` suite asks of each queue it measures (troupe, graphile-worker, pg-boss): add
// no-op jobs by key, run agents of a few slots on them, stop them, and say from the database
// whether every job's result was recorded. Each queue lives in a schema of its own.

export interface BenchQueue {
  /** The system's name, as the rows say it. */
  readonly name: string;
  /** The queue's schema (none for the in-memory reference). */
  readonly schema?: string;
  /** Creates the queue's schema and whatever adds jobs. */
  prepare(): Promise<void>;
  /** Adds one no-op job per key (the key is its message); resolves once they are all committed. */
  add(keys: readonly string[]): Promise<void>;
  /** Starts `agents` agents of `slots` slots each, on their own connections. */
  start(agents: number, slots: number): Promise<void>;
  /** Stops the agents; the jobs they ran have been recorded. */
  stop(): Promise<void>;
  /** How many jobs the database does not hold as finished successfully (0 when all are). */
  unfinished(): Promise<number>;
  /** Closes what `prepare` opened (the agents are stopped). The suite drops the schema. */
  close(): Promise<void>;
}
