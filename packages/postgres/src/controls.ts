// Cancels and metadata updates of running jobs, through the database. Whoever asks writes them
// into the job's row and sends a NOTIFY (its payload the job's id) on the queue's control channel;
// the agent holding the lease hears it and hands the control to its dispatcher (`JobSource.watch`).
// A notification can be missed (the listening connection was down), and a dispatcher may not be
// able to act yet (a metadata update before the worker runs): every held job is therefore looked
// at again on each reconnection and on the slow poll, until what was asked has been handed over.
import type { Clock, JobControl } from '@troupe/core';
import type { QueueNames } from './schema.js';

/** What a `cancel` did. */
export type CancelOutcome =
  /** The job was queued: it is completed as `Canceled` and never runs. */
  | 'canceled'
  /** The job is leased: its holder is told, and its dispatcher cancels the worker. */
  | 'requested'
  /** The job had ended already (completed or dead): nothing changed. */
  | 'finished';

/** What an `updateMetadata` did. */
export type MetadataOutcome =
  /** The job was queued: it starts with the new metadata. */
  | 'queued'
  /** The job is leased: its holder is told, and its dispatcher forwards the update to the worker. */
  | 'sent'
  /** The job had ended already: nothing changed. */
  | 'finished';

export interface ControlStatements {
  /** $1 id, $2 reason, $3 completion (JSON) for a queued job, $4 the control channel. */
  readonly cancel: string;
  /** $1 id, $2 metadata (JSON, merged into the job's), $3 the control channel. */
  readonly updateMetadata: string;
  /** $1 ids (text[]). The controls of those that are leased. */
  readonly controls: string;
}

export function controlStatements({ quoted: s }: QueueNames): ControlStatements {
  // In an UPDATE every right-hand side reads the row as it was; RETURNING reads it as it is now.
  // A take that holds the row's lock first is waited for, and the row is then seen leased.
  return {
    cancel: `with changed as (
        update ${s}.jobs
           set state = case when state = 'queued' then 'completed' else state end,
               result = case when state = 'queued' then 'Canceled' else result end,
               completion = case when state = 'queued' then $3::jsonb else completion end,
               finished_at = case when state = 'queued' then now() else finished_at end,
               cancel_requested_at = coalesce(cancel_requested_at, now()),
               cancel_reason = coalesce(cancel_reason, $2)
         where id = $1 and state in ('queued', 'leased')
        returning id, state
      )
      select state, case when state = 'leased' then pg_notify($4, id) end from changed`,
    updateMetadata: `with changed as (
        update ${s}.jobs
           set metadata = coalesce(metadata, '{}'::jsonb) || $2::jsonb,
               metadata_version = metadata_version + 1
         where id = $1 and state in ('queued', 'leased')
        returning id, state
      )
      select state, case when state = 'leased' then pg_notify($3, id) end from changed`,
    controls: `select id, fence::text as fence, cancel_requested_at is not null as "cancelRequested",
        cancel_reason as "cancelReason", coalesce(metadata, '{}'::jsonb) as metadata,
        metadata_version as "metadataVersion"
      from ${s}.jobs where id = any($1::text[]) and state = 'leased'`,
  };
}

interface ControlRow {
  id: string;
  fence: string;
  cancelRequested: boolean;
  cancelReason: string | null;
  metadata: Record<string, unknown>;
  metadataVersion: number;
}

/** A job this agent holds, and how much of what was asked of it its dispatcher has taken. */
interface Held {
  readonly fence: string;
  cancelHandedOver: boolean;
  metadataVersion: number;
}

export interface HeldJobsOptions {
  readonly statements: ControlStatements;
  readonly query: <R extends object>(text: string, values: unknown[]) => Promise<{ rows: R[] }>;
  readonly clock: Clock;
  /** How often held jobs are looked at without a notification. */
  readonly pollMs: number;
  readonly warn: (error: Error) => void;
}

/** The jobs this agent holds, and the hand-over of their controls to whoever watches. */
export class HeldJobs {
  readonly #held = new Map<string, Held>();
  readonly #listeners = new Set<(control: JobControl) => boolean>();
  readonly #options: HeldJobsOptions;
  #timer: unknown;
  #looking: Promise<void> | undefined;
  #lookAgain = false;
  #closed = false;

  constructor(options: HeldJobsOptions) {
    this.#options = options;
  }

  /** A take leased `id` with `fence`; `metadataVersion` is that of the metadata it carried. */
  hold(id: string, fence: string, metadataVersion: number): void {
    this.#held.set(id, { fence, cancelHandedOver: false, metadataVersion });
    this.#schedule();
  }

  /** The lease `fence` of `id` is over here (completed, or lost). */
  release(id: string, fence: string): void {
    if (this.#held.get(id)?.fence === fence) this.#held.delete(id);
  }

  watch(listener: (control: JobControl) => boolean): () => void {
    this.#listeners.add(listener);
    this.#schedule();
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** A notification for `id`, or (undefined) a reconnection after which anything may be new. */
  heard(id: string | undefined): void {
    if (id === undefined || this.#held.has(id)) void this.#look();
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) this.#options.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The slow poll runs while something is held and someone watches. */
  #schedule(): void {
    if (this.#closed || this.#timer !== undefined) return;
    if (this.#held.size === 0 || this.#listeners.size === 0) return;
    this.#timer = this.#options.clock.setTimeout(() => {
      this.#timer = undefined;
      void this.#look().finally(() => this.#schedule());
    }, this.#options.pollMs);
  }

  /** One look at a time; a request during a look makes one more after it. */
  #look(): Promise<void> {
    if (this.#looking) {
      this.#lookAgain = true;
      return this.#looking;
    }
    this.#looking = (async () => {
      do {
        this.#lookAgain = false;
        if (this.#closed || this.#held.size === 0 || this.#listeners.size === 0) break;
        try {
          await this.#lookOnce();
        } catch (error) {
          // The next poll or reconnection looks again.
          this.#options.warn(error instanceof Error ? error : new Error(String(error)));
        }
      } while (this.#lookAgain);
    })().finally(() => {
      this.#looking = undefined;
    });
    return this.#looking;
  }

  async #lookOnce(): Promise<void> {
    const { rows } = await this.#options.query<ControlRow>(this.#options.statements.controls, [
      [...this.#held.keys()],
    ]);
    for (const row of rows) {
      const held = this.#held.get(row.id);
      // Another take has it now: its renewal says so to the dispatcher.
      if (!held || held.fence !== row.fence) continue;
      if (row.cancelRequested && !held.cancelHandedOver) {
        const reason = row.cancelReason ?? 'cancelled through the queue';
        held.cancelHandedOver = this.#offer({ type: 'cancel', jobId: row.id, lease: row.fence, reason });
      }
      if (row.metadataVersion > held.metadataVersion) {
        const control = {
          type: 'metadata',
          jobId: row.id,
          lease: row.fence,
          metadata: row.metadata,
        } as const;
        if (this.#offer(control)) held.metadataVersion = row.metadataVersion;
      }
    }
  }

  #offer(control: JobControl): boolean {
    let taken = false;
    for (const listener of this.#listeners) taken = listener(control) || taken;
    return taken;
  }
}
