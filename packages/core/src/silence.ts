import type { Clock } from '@troupe/transport';

/**
 * How long a peer has been silent, as seen by a side that checks on it with a periodic tick: a
 * host watching its node (`NodeLiveness`), a node watching its host (the endpoint's heartbeat).
 * Plain bookkeeping on the injected clock; the machines decide when to tick and what silence means.
 *
 * A tick that runs late means this side's own event loop was held up (a synchronous stretch of
 * its own, or the whole process stopped): the peer's packets may be waiting unread in the socket,
 * since timers run before I/O is read. Silence counts only while this side ran on time, or a
 * blocked (or SIGSTOPped and resumed) side would declare every healthy peer gone.
 */
export class Silence {
  /** When the peer was last heard from, or watching began: where its silence starts. */
  #heardAt = 0;
  /** When the last tick ran (watching began, or a tick went by). */
  #tickedAt = 0;

  constructor(
    private readonly clock: Clock,
    /** How often this side ticks: a tick later than this is this side's lateness. */
    private readonly intervalMs: () => number,
  ) {}

  /** The peer has been heard from just now. */
  heard(): void {
    this.#heardAt = this.clock.now();
  }

  /** Watching starts now: silence counts from here. */
  watchFromNow(): void {
    this.#heardAt = this.clock.now();
    this.#tickedAt = this.#heardAt;
  }

  /** A tick went by: this side's own lateness since the last one is not the peer's silence. */
  ticked(): void {
    const now = this.clock.now();
    this.#heardAt += this.#lateness(now);
    this.#tickedAt = now;
  }

  /** How long the peer has been silent, not counting this side's own lateness. */
  silentFor(): number {
    const now = this.clock.now();
    return now - this.#heardAt - this.#lateness(now);
  }

  /** How long since the peer was last heard from, lateness and all (for messages). */
  sinceHeard(): number {
    return this.clock.now() - this.#heardAt;
  }

  #lateness(now: number): number {
    return Math.max(0, now - this.#tickedAt - this.intervalMs());
  }
}
