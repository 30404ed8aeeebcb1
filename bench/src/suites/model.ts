import { InProcessNodeProvider } from '@troupe/core';
import { ExplorerPool, explore, randomWalk } from '@troupe/testing';
import { buildScenario } from '@troupe/testing/internal';
import { alternate, type Row, row, type SuiteOptions } from '../measure.js';
import { XStateFloor } from '../xstate-floor.js';

type Explorer = Pick<ExplorerPool, 'explore'>;

/**
 * Schedules per second exploring the 2-node build scenario (dependent requests, yielding tasks,
 * up to one fault) with a seeded random walk: each schedule builds the world from scratch (a
 * runtime, two nodes over simulated links), runs it step by step to the end, checks the monitors.
 */
async function schedulesPerSecond(explorer: Explorer, count: number, seed: number): Promise<number> {
  const result = await explorer.explore(buildScenario, 'none', randomWalk({ seed }), {
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
  const rounds = quick ? 1 : 5;
  const oneThread: Explorer = { explore };
  // As `npm run check:model` explores: a worker process per core.
  const pool = new ExplorerPool({ workers: 2 });
  let floor: XStateFloor | undefined;
  try {
    // Warm-up: the JIT, and the task module every simulated node imports.
    await schedulesPerSecond(oneThread, quick ? 20 : 300, 1);
    await schedulesPerSecond(pool, quick ? 20 : 1_000, 1);
    await nativePoolsPerSecond(quick ? 20 : 300);
    let seed = 1_000;
    const parallel = await alternate(
      rounds,
      () => nativePoolsPerSecond(count),
      () => {
        seed += count;
        return schedulesPerSecond(pool, count, seed);
      },
    );
    const single = await alternate(
      rounds,
      () => nativePoolsPerSecond(count),
      () => {
        seed += count;
        return schedulesPerSecond(oneThread, count / 2, seed);
      },
    );
    // The floor: the XState work of the same scenario's schedules alone, on as many workers.
    floor = await XStateFloor.start({ workers: 2, schedules: quick ? 40 : 1_000, seed: 500_000 });
    await floor.rate();
    const xstate = await alternate(
      rounds,
      () => (floor as XStateFloor).rate(),
      () => {
        seed += count;
        return schedulesPerSecond(pool, count, seed);
      },
    );
    return [
      row(
        'model',
        'schedules/s exploring the 2-node build scenario, 2 worker processes (as check:model), vs native 2-node pool start+stop/s',
        '/s',
        parallel,
        'troupe >= 1500 /s',
      ),
      row('model', 'the same on one thread (explore)', '/s', single),
      row(
        'model',
        "the 2-worker row vs XState alone: each schedule's actors created and sent the same events, nothing else, 2 workers (the floor here)",
        '/s',
        xstate,
      ),
    ];
  } finally {
    await Promise.all([pool.close(), floor?.close()]);
  }
}
