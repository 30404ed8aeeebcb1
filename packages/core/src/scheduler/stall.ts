import type { Clock } from '@troupe/transport';
import { machineInspector, reportUnhandledError, sendIfActive } from '@troupe/transport/internal';
import { type Actor, createActor } from 'xstate';
import type { StallHolder, WaitFor } from '../errors.js';
import type { Pools } from './pools.js';
import type { ScheduledRequest } from './request.js';
import {
  bindSchedulerEffects,
  type SchedulerMachineEvent,
  type SchedulerState,
  schedulerMachine,
} from './scheduler.machine.js';
import { waitFor } from './wait-for.js';

export interface StallReport {
  holders: StallHolder[];
  waiting: number;
  /** What waits for what, down to the requests that hold the nodes (and their cycle, if any). */
  waitFor: WaitFor;
}

export interface StallWatchOptions {
  clock: Clock;
  /** The scheduler's pools: what the stall question and the report look at. */
  pools: Pools;
  /** The scheduler's requests: whose waits the report follows. */
  requests(): Iterable<ScheduledRequest>;
  stallTimeoutMs: number;
  stallErrorMs: number;
  /** A stall began. */
  onStall(report: StallReport): void;
  /** The stall lasted `stallErrorMs` more: fail the run. */
  onFailed(): void;
}

/**
 * The scheduler's stall detection: it runs the scheduler machine, answers its questions and
 * carries out its effects. Progress only moves a timestamp here; the machine hears of it only
 * while a stall is reported, and of the stall question only when its answer changes.
 */
export class StallWatch {
  readonly #machine: Actor<typeof schedulerMachine>;
  readonly #clock: Clock;
  readonly #pools: Pools;
  readonly #requests: () => Iterable<ScheduledRequest>;
  #lastProgress = 0;

  constructor(options: StallWatchOptions) {
    this.#clock = options.clock;
    this.#pools = options.pools;
    this.#requests = options.requests;
    this.#machine = createActor(schedulerMachine, {
      inspect: machineInspector(),
      clock: this.#clock,
      input: {
        stallTimeoutMs: options.stallTimeoutMs,
        stallErrorMs: options.stallErrorMs,
        effects: bindSchedulerEffects({
          reportStall: () => options.onStall(this.report()),
          failStall: () => options.onFailed(),
          quietFor: () => this.#clock.now() - this.#lastProgress,
        }),
      },
    });
    this.#machine.subscribe({ error: reportUnhandledError });
    this.#machine.start();
  }

  get state(): SchedulerState {
    return this.#machine.getSnapshot().value;
  }

  /** A request moved. */
  progress(): void {
    this.#lastProgress = this.#clock.now();
    if (this.state === 'stalled') this.#send({ type: 'progress' });
  }

  /** Asks the stall question again, after the scheduler has decided what runs where. */
  check(): void {
    const state = this.state;
    if (state === 'failed' || state === 'stopped') return;
    const stalled = this.#stalled();
    if (state === 'flowing') {
      if (stalled) {
        this.#lastProgress = this.#clock.now();
        this.#send({ type: 'stall.suspected' });
      }
    } else if (!stalled) {
      this.#send({ type: 'stall.cleared' });
    }
  }

  /** Stops stall detection; the run is over. */
  stop(): void {
    this.#send({ type: 'scheduler.stop' });
  }

  /** Who holds the nodes, and for how long; how many requests wait for one; what waits for what. */
  report(): StallReport {
    const now = this.#clock.now();
    const holders: StallHolder[] = [];
    let waiting = this.#pools.waiting;
    for (const slot of this.#pools.nodes.values()) {
      waiting += slot.runnable.size + slot.staged.length;
      if (slot.active) {
        holders.push({
          request: slot.active.id,
          task: slot.active.spec.task,
          node: slot.id,
          heldMs: now - slot.active.activeSince,
        });
      }
    }
    return { holders, waiting, waitFor: waitFor(this.#requests(), this.#pools) };
  }

  /** Events for a machine that already reached its final state are late news: dropped, not warned about. */
  #send(event: SchedulerMachineEvent): void {
    sendIfActive(this.#machine, event);
  }

  /**
   * The stall question, per pool: work waits for the pool's nodes, every one of them is held by
   * an active request, and the pool cannot grow.
   */
  #stalled(): boolean {
    for (const pool of this.#pools.values()) {
      if (pool.nodes.size === 0 || pool.growing > 0) continue;
      let waiting = pool.waiting.size;
      let allHeld = true;
      for (const slot of pool.nodes) {
        if (!slot.active) {
          allHeld = false;
          break;
        }
        waiting += slot.runnable.size + slot.staged.length;
      }
      if (allHeld && waiting > 0) return true;
    }
    return false;
  }
}
