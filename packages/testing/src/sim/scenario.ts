// What the explorer explores: a scenario, and the world it builds in each schedule's simulation.
import type { FaultBudget, Simulation } from './simulation.js';

/** What a scenario builds: the script that drives the world, and what the state hash may add. */
export interface World {
  /** Drives the world (builds, jobs, shutdown) and throws if something that must hold does not. */
  run(): Promise<void>;
  /** Extra state for the exhaustive search's hash: machine states the world exposes. */
  fingerprint?(): string;
  /**
   * What the world's unfinished work waits for, for the report of a world that stopped with its
   * script still waiting (a deadlock): the wait-for chains, and their cycle if there is one.
   */
  waitFor?(): string;
}

/**
 * A world to explore: how to build it in a simulation (for the unbroken runtime, `variant` is
 * `'none'`, or the name of one of `variants`), which faults the explorer may inject, and a step
 * bound past which the run counts as making no progress.
 */
export interface Scenario {
  readonly name: string;
  readonly faults?: FaultBudget;
  /** Steps per schedule before "no progress" is reported. Default 5,000. */
  readonly maxSteps?: number;
  /** Names of deliberately broken runtimes this scenario can build. */
  readonly variants?: readonly string[];
  /**
   * An error reported with no caller left (`reportUnhandledError`: a handler that threw, a
   * promise nobody awaited) is a violation. Default false: such errors go to the trace.
   */
  readonly strictErrors?: boolean;
  /**
   * Tasks on different nodes share memory (a board in the world that each node's task reads and
   * writes), so a delivery to one node may change what another does: the exhaustive search must
   * not treat deliveries to different nodes as independent. Default false: nodes share nothing
   * but the wire, as real processes.
   */
  readonly sharedState?: boolean;
  /**
   * The URL of a module that exports this scenario (directly, or in an exported array), so that
   * an `ExplorerPool` worker process can load it by its name. Scenarios without one are explored
   * on the calling thread.
   */
  readonly module?: string;
  setup(sim: Simulation, variant: string): World;
}
