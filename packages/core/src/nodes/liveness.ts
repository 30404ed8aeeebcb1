import type { Clock } from '@troupe/transport';
import { InvalidOptionError, NodeUnresponsiveError } from '../errors.js';

/**
 * Liveness of a node that holds requests: it is pinged every `intervalMs` (default 1 s) and
 * declared lost when it has not answered for `timeoutMs` (default 10 s). The node's endpoint
 * answers on its event loop, so a task that awaits leaves it free to answer, but a task that runs
 * synchronously for longer than `timeoutMs` (on a thread or process node) is taken for a hung node:
 * the bound must exceed the longest synchronous stretch of any task.
 */
export interface PingTimes {
  intervalMs: number;
  timeoutMs: number;
}

export const DEFAULT_PING_TIMES: Readonly<PingTimes> = { intervalMs: 1_000, timeoutMs: 10_000 };

/**
 * What a node context knows of its node's liveness: the requests the node holds, when it last
 * answered, and the ping times. Plain bookkeeping on the injected clock; the node-context
 * machine decides when to ping and when the node is lost, reading it through its effects.
 */
export class NodeLiveness {
  /** Requests sent to the node and not yet answered (BuildRequest → BuildResult): the node holds them. */
  readonly held = new Set<string>();
  #times: PingTimes = { ...DEFAULT_PING_TIMES };
  #seq = 0;
  /** When the node last answered a ping, or was first given work: where its silence starts. */
  #answeredAt = 0;
  /** When the last tick ran (watching began, or a ping went out). */
  #tickedAt = 0;
  #lost: Error | undefined;

  constructor(private readonly clock: Clock) {}

  get times(): Readonly<PingTimes> {
    return this.#times;
  }

  /** Changes the ping interval and silence bound of node `nodeId`; refuses what no timer could run. */
  setTimes(times: Partial<PingTimes>, nodeId: string): void {
    const next = { ...this.#times, ...times };
    for (const [name, value] of Object.entries(next)) {
      if (typeof value !== 'number' || Number.isNaN(value) || value <= 0)
        throw invalidPing(nodeId, name, 'a positive number of milliseconds', value);
    }
    if (!Number.isFinite(next.intervalMs))
      throw invalidPing(nodeId, 'intervalMs', 'a finite number of milliseconds', next.intervalMs);
    this.#times = next;
  }

  /** How long the node has been silent, not counting this host's own lateness. */
  silentFor(): number {
    const now = this.clock.now();
    return now - this.#answeredAt - this.#lateness(now);
  }

  /** Set when the node was declared lost: what its requests fail with. */
  get lost(): Error | undefined {
    return this.#lost;
  }

  /**
   * The verdict on a node declared lost: the host's reason, if it gave up on the node itself
   * (`giveUp`), else its silence.
   */
  lose(nodeId: string, pid: number | undefined): Error {
    this.#lost ??= new NodeUnresponsiveError(nodeId, pid, this.clock.now() - this.#answeredAt);
    return this.#lost;
  }

  /** The host gives up on the node, for `reason` (unless a verdict was given already). */
  giveUp(reason: Error): void {
    this.#lost ??= reason;
  }

  /** The silence clock starts now (the node was given work while it held none). */
  watchFromNow(): void {
    this.#answeredAt = this.clock.now();
    this.#tickedAt = this.#answeredAt;
  }

  /** The node answered a ping. */
  answered(): void {
    this.#answeredAt = this.clock.now();
  }

  /** A tick that pings: this host's own lateness since the last one is not the node's silence. */
  ticked(): void {
    const now = this.clock.now();
    this.#answeredAt += this.#lateness(now);
    this.#tickedAt = now;
  }

  /** The sequence number of the next Ping sent. */
  nextSeq(): number {
    return ++this.#seq;
  }

  /**
   * How much later than due this tick runs. A late tick means this host's own event loop was held
   * up (a synchronous stretch of its own): the node's answers may be waiting unread in the socket,
   * since timers run before I/O is read. Silence counts only while the host ran on time, or a
   * blocked host would declare every healthy node lost.
   */
  #lateness(now: number): number {
    return Math.max(0, now - this.#tickedAt - this.#times.intervalMs);
  }
}

/** An `InvalidOptionError` for option `ping.<name>` whose message names the node. */
function invalidPing(nodeId: string, name: string, accepted: string, value: unknown): InvalidOptionError {
  const error = new InvalidOptionError(`ping.${name}`, accepted, value);
  error.message = `node ${nodeId}: ${error.message}`;
  return error;
}
