import type { Schedule } from './schedule.js';
import type { Violation } from './simulation.js';
import type { StrategyRecipe } from './strategies.js';

/** Main thread → explorer worker: explore the schedules of a job that fall to this worker. */
export interface RunMessage {
  readonly type: 'run';
  readonly job: number;
  /** Module that exports the scenario, and the scenario's name. */
  readonly module: string;
  readonly scenario: string;
  readonly variant: string;
  readonly recipe: StrategyRecipe;
  /** This worker takes schedule indices `first`, `first + stride`, ... below `limit`. */
  readonly first: number;
  readonly stride: number;
  readonly limit: number;
  /** Wall-clock time (`Date.now()`) after which no new schedule starts. */
  readonly deadline: number;
}

/** Main thread → worker: a violation was found at schedule `index`; later ones need not run. */
export interface BoundMessage {
  readonly type: 'bound';
  readonly job: number;
  readonly index: number;
}

export type ToWorker = RunMessage | BoundMessage;

export type FromWorker =
  | { readonly type: 'ready' }
  | {
      readonly type: 'found';
      readonly job: number;
      readonly index: number;
      readonly schedule: Schedule;
      readonly violation: Violation;
    }
  | { readonly type: 'done'; readonly job: number; readonly schedules: number }
  | { readonly type: 'failed'; readonly job: number; readonly message: string };
