import { InProcessNodeProvider, resetDefects } from '@troupe/core';
import { buildScenario, explore, randomWalk } from '@troupe/testing';
import { alternate, type Row, row, type SuiteOptions } from '../measure.js';

/**
 * Schedules per second exploring the 2-node build scenario (dependent requests, yielding tasks,
 * up to one fault) with a seeded random walk: each schedule builds the world from scratch (a
 * runtime, two nodes over simulated links), runs it step by step to the end, checks the monitors.
 */
async function schedulesPerSecond(count: number, seed: number): Promise<number> {
  const result = await explore(buildScenario, 'none', randomWalk({ seed }), {
    schedules: count,
    timeMs: 120_000,
    replay: false,
  });
  if (result.found) throw new Error(`the unbroken runtime failed: ${result.violation?.message}`);
  return result.schedules / (result.ms / 1000);
}

/** The baseline: the same two in-process nodes started and shut down natively, per second. */
async function nativePoolsPerSecond(count: number): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const provider = new InProcessNodeProvider();
    await provider.acquire(2);
    await provider.shutdown();
  }
  return count / ((performance.now() - start) / 1000);
}

export async function modelSuite({ quick }: SuiteOptions): Promise<Row[]> {
  const count = quick ? 50 : 2_000;
  // Warm-up: the JIT, and the task module every simulated node imports.
  await schedulesPerSecond(quick ? 20 : 300, 1);
  await nativePoolsPerSecond(quick ? 20 : 300);
  let seed = 1_000;
  const figures = await alternate(
    quick ? 1 : 5,
    () => nativePoolsPerSecond(count),
    () => {
      seed += count;
      return schedulesPerSecond(count, seed);
    },
  );
  resetDefects();
  return [
    row(
      'model',
      'schedules/s exploring the 2-node build scenario, vs native 2-node pool start+stop/s',
      '/s',
      figures,
      'troupe >= 1000 /s',
    ),
  ];
}
