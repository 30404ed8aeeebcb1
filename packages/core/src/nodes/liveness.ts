import type { Clock } from '@troupe/transport';
import { InvalidOptionError, NodeUnresponsiveError } from '../errors.js';
import { Silence } from '../silence.js';

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
 * Heartbeats, for a node whose provider asks for them (a node across a network, where TCP does
 * not say that a peer is gone): pinged every `intervalMs` whether or not it holds requests,
 * declared lost after `timeoutMs` of silence even when idle, and told the same times in its
 * NodeConfiguration so that it drops a host it has not heard from for `timeoutMs`.
 */
export const DEFAULT_HEARTBEAT: Readonly<PingTimes> = { intervalMs: 1_000, timeoutMs: 5_000 };

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
  /** Since the node last answered a ping, or was first watched. */
  readonly #silence: Silence;
  #lost: Error | undefined;
  /** Set when the node has heartbeats: its times are fixed, told to the node when it connects. */
  readonly heartbeat: Readonly<PingTimes> | undefined;

  constructor(clock: Clock, heartbeat?: Partial<PingTimes>, nodeId = 'node') {
    this.#silence = new Silence(clock, () => this.#times.intervalMs);
    if (heartbeat) {
      this.setTimes({ ...DEFAULT_HEARTBEAT, ...heartbeat }, nodeId, 'heartbeat');
      const { intervalMs, timeoutMs } = this.#times;
      if (!Number.isFinite(timeoutMs) || timeoutMs > 2_147_483_647)
        throw invalidPing(nodeId, 'timeoutMs', 'milliseconds up to 2147483647', timeoutMs, 'heartbeat');
      if (intervalMs >= timeoutMs)
        throw invalidPing(
          nodeId,
          'intervalMs',
          `less than timeoutMs (${timeoutMs})`,
          intervalMs,
          'heartbeat',
        );
      this.heartbeat = this.#times;
    }
  }

  /** Whether the node is watched now: it holds requests, or it has heartbeats. */
  watched(): boolean {
    return this.heartbeat !== undefined || this.held.size > 0;
  }

  get times(): Readonly<PingTimes> {
    return this.#times;
  }

  /** Changes the ping interval and silence bound of node `nodeId`; refuses what no timer could run. */
  setTimes(times: Partial<PingTimes>, nodeId: string, option: 'ping' | 'heartbeat' = 'ping'): void {
    // A node with heartbeats was told its times when it connected: they stay.
    if (this.heartbeat) return;
    const next = { ...this.#times, ...times };
    for (const [name, value] of Object.entries(next)) {
      if (typeof value !== 'number' || Number.isNaN(value) || value <= 0)
        throw invalidPing(nodeId, name, 'a positive number of milliseconds', value, option);
    }
    if (!Number.isFinite(next.intervalMs))
      throw invalidPing(nodeId, 'intervalMs', 'a finite number of milliseconds', next.intervalMs, option);
    this.#times = next;
  }

  /** How long the node has been silent, not counting this host's own lateness. */
  silentFor(): number {
    return this.#silence.silentFor();
  }

  /** Set when the node was declared lost: what its requests fail with. */
  get lost(): Error | undefined {
    return this.#lost;
  }

  /**
   * The verdict on a node declared lost: the host's reason, if it gave up on the node itself
   * (`giveUp`), else its silence.
   */
  lose(nodeId: string, pid: number | undefined, location?: string): Error {
    this.#lost ??= new NodeUnresponsiveError(nodeId, pid, this.#silence.sinceHeard(), location);
    return this.#lost;
  }

  /** The host gives up on the node, for `reason` (unless a verdict was given already). */
  giveUp(reason: Error): void {
    this.#lost ??= reason;
  }

  /** The silence clock starts now (the node was given work while it held none). */
  watchFromNow(): void {
    this.#silence.watchFromNow();
  }

  /** The node answered a ping. */
  answered(): void {
    this.#silence.heard();
  }

  /** A tick that pings: this host's own lateness since the last one is not the node's silence. */
  ticked(): void {
    this.#silence.ticked();
  }

  /** The sequence number of the next Ping sent. */
  nextSeq(): number {
    return ++this.#seq;
  }
}

/** An `InvalidOptionError` for option `ping.<name>` (or `heartbeat.<name>`) whose message names the node. */
function invalidPing(
  nodeId: string,
  name: string,
  accepted: string,
  value: unknown,
  option: 'ping' | 'heartbeat' = 'ping',
): InvalidOptionError {
  const error = new InvalidOptionError(`${option}.${name}`, accepted, value);
  error.message = `node ${nodeId}: ${error.message}`;
  return error;
}
