// One schedule of a scenario: run it under a chooser, replay it from its recorded choices, print
// its trace. A run is a pure function of the seed and the choices, which is what makes a replay exact.
import { setUnhandledErrorReporter } from '@troupe/transport';
import type { PendingDelivery } from './network.js';
import type { Scenario } from './scenario.js';
import { describePacket, Simulation, type Step, type TraceEntry, type Violation } from './simulation.js';
import type { Chooser } from './strategies.js';

/** Everything needed to reproduce a schedule exactly. */
export interface Schedule {
  readonly scenario: string;
  readonly variant: string;
  readonly seed: number;
  /** The index of the step taken among the enabled steps, at each step. */
  readonly choices: readonly number[];
}

/** What one run of a schedule gave, with its trace when tracing was on. */
export interface RunResult {
  readonly schedule: Schedule;
  readonly violation: Violation | undefined;
  readonly steps: number;
  /** How many steps were enabled at each choice. */
  readonly widths: readonly number[];
  readonly pruned: boolean;
  readonly trace: readonly TraceEntry[];
  /** The steps taken, for the story (`formatStory`): recorded by `replay`. */
  readonly taken?: readonly TakenStep[];
}

/** A step a replay took, as the story needs it (recorded by `replay`). */
export interface TakenStep {
  readonly kind: 'deliver' | 'timer' | 'action' | 'fault';
  readonly label: string;
  /** Simulated time (ms) when the step was taken, before it ran. */
  readonly time: number;
  /** For a delivery or a dropped one: what travelled, from whom to whom. */
  readonly delivery?: {
    readonly from: string;
    readonly to: string;
    readonly kind: 'data' | 'end' | 'reset';
    readonly bytes: number;
    /** The packets it completes, as the trace prints them. */
    readonly packets: readonly string[];
  };
  /** For a timer (due, or fired early as a delay fault): whose, and when it was due. */
  readonly timer?: { readonly owner: string; readonly due: number };
}

/**
 * Between steps, every promise continuation that is due runs: a macrotask does that, as Node
 * drains all microtasks before and after each one. The immediates are queued in batches: Node
 * runs every immediate of a turn's check phase one after another, draining microtasks between
 * two of them, so each waiter still resumes with every continuation of the last step run, and one
 * turn of the event loop (with its poll for I/O) serves many steps. A world under the simulator
 * does no I/O and arms no real timers (the determinism rule), so nothing else runs between the
 * steps of a batch. One per schedule, so a schedule's batches do not depend on the one before.
 */
function batchedSettle(size = 64): () => Promise<void> {
  const waiting: Array<() => void> = [];
  let queued = 0;
  const serve = () => {
    queued--;
    waiting.shift()?.();
  };
  return () =>
    new Promise<void>((resolve) => {
      waiting.push(resolve);
      if (queued === 0) {
        for (let i = 0; i < size; i++) setImmediate(serve);
        queued = size;
      }
    });
}

/**
 * Runs one schedule of a scenario: builds the world, then takes the step `chooser` picks until the
 * script has finished and nothing is left to do, a monitor reports a violation, the world
 * deadlocks (the script waits and no step is enabled), or the step bound passes.
 */
export async function runSchedule(
  scenario: Scenario,
  variant: string,
  seed: number,
  chooser: Chooser,
  options: { tracing?: boolean } = {},
): Promise<RunResult> {
  const sim = new Simulation({
    seed,
    ...(scenario.faults && { faults: scenario.faults }),
    ...(scenario.sharedState && { sharedState: true }),
    ...(chooser.visit && { footprints: true }),
    tracing: options.tracing ?? false,
  });
  const choices: number[] = [];
  const widths: number[] = [];
  // Errors with no caller left (a node lost, a failed growth) belong to this world's trace.
  const restore = setUnhandledErrorReporter((error) => {
    const message = error instanceof Error ? error.message : String(error);
    sim.note(`unhandled: ${message}`);
    if (scenario.strictErrors) sim.violate('no unhandled errors', message);
  });
  try {
    return await run();
  } finally {
    restore();
  }
  async function run(): Promise<RunResult> {
    const world = scenario.setup(sim, variant);
    let failure: unknown;
    let done = false;
    world.run().then(
      () => {
        done = true;
      },
      (error: unknown) => {
        failure = error;
        done = true;
      },
    );
    const maxSteps = scenario.maxSteps ?? 5_000;
    const settleStep = batchedSettle();
    let pruned = false;
    for (;;) {
      await settleStep();
      if (failure !== undefined) {
        sim.violate('scenario', failure instanceof Error ? failure.message : String(failure));
        failure = undefined;
      }
      if (done && !sim.finished) {
        sim.finished = true;
        sim.note('script finished');
      }
      if (sim.violation) break;
      const steps = sim.enabled();
      const normal = steps.some((step) => step.kind !== 'fault');
      if (!normal) {
        if (!done) {
          sim.violate(
            'deadlock',
            `no step is enabled while the scenario still waits (${sim.network.pending} deliveries held, ${sim.clock.timers().length} timers, ${sim.nodes.filter((n) => sim.isHung(n.name)).length} hung nodes)${world.waitFor ? `. ${world.waitFor()}` : ''}`,
          );
        }
        break;
      }
      if (sim.steps >= maxSteps) {
        sim.violate('no progress', `the scenario did not finish within ${maxSteps} steps`);
        break;
      }
      if (chooser.visit) {
        const state = () => `${sim.pendingFingerprint()}#${world.fingerprint?.() ?? ''}#${done}`;
        if (!chooser.visit(steps, sim, state)) {
          pruned = true;
          break;
        }
      }
      const index = chooser.choose(steps, sim);
      const step = steps[index];
      if (!step) throw new RangeError(`the chooser picked step ${index} of ${steps.length}`);
      choices.push(index);
      widths.push(steps.length);
      try {
        sim.take(step);
      } catch (error) {
        // A delivery or a timer callback that throws would be an uncaught exception in a real
        // process: it ends the program. Here it ends the schedule, as a violation to replay.
        const message = error instanceof Error ? error.message : String(error);
        sim.violate('no uncaught exceptions', `${step.label} threw: ${message}`);
      }
    }
    if (!pruned) {
      for (const monitor of sim.monitors) {
        if (sim.violation) break;
        monitor.atEnd?.(sim, done);
      }
    }
    return {
      schedule: { scenario: scenario.name, variant, seed, choices },
      violation: sim.violation,
      steps: sim.steps,
      widths,
      pruned,
      trace: sim.trace,
    };
  }
}

/** Replays a schedule step for step, with the trace on and the steps taken recorded. */
export async function replay(scenario: Scenario, schedule: Schedule): Promise<RunResult> {
  let at = 0;
  const taken: TakenStep[] = [];
  const result = await runSchedule(
    scenario,
    schedule.variant,
    schedule.seed,
    {
      choose: (steps, sim) => {
        const index = schedule.choices[at++];
        const step = index === undefined ? undefined : steps[index];
        if (!step) {
          throw new Error(
            `the schedule does not replay: at step ${at} it chose ${index} of ${steps.length} enabled steps`,
          );
        }
        taken.push(takenStep(step, sim.clock.now()));
        return index!;
      },
    },
    { tracing: true },
  );
  return { ...result, taken };
}

/** What the story needs of a step: its sentence's parts, read from the simulator's step kinds. */
function takenStep(step: Step, time: number): TakenStep {
  const base = { kind: step.kind, label: step.label, time };
  const head = (step as Partial<{ head: PendingDelivery }>).head;
  if (head) {
    const { delivery } = head;
    return {
      ...base,
      delivery: {
        from: delivery.from,
        to: delivery.to,
        kind: delivery.kind,
        bytes: delivery.kind === 'data' ? delivery.bytes : 0,
        packets: head.packets.map(describePacket),
      },
    };
  }
  const timer = step as Partial<{ owner: string; due: number }>;
  if (typeof timer.owner === 'string' && typeof timer.due === 'number')
    return { ...base, timer: { owner: timer.owner, due: timer.due } };
  return base;
}

/** Prints a run's trace as a readable list of steps, notes and the violation. */
export function formatTrace(result: RunResult): string {
  const lines = [
    `scenario ${result.schedule.scenario}, variant ${result.schedule.variant}, seed ${result.schedule.seed}, ${result.steps} steps`,
  ];
  for (const entry of result.trace) lines.push(`[t=${entry.time}] ${entry.text}`);
  if (result.violation) lines.push(`violation (${result.violation.monitor}): ${result.violation.message}`);
  return lines.join('\n');
}
