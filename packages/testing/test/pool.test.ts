// Exploring on worker threads gives what exploring on one thread gives: the same schedules, the
// same first violation, replayed.
import { isPidAlive } from '@troupe/core/internal';
import { ExplorerPool, exhaustive, explore, pct, randomWalk, type Scenario } from '@troupe/testing';
import { builtInScenarios as scenarios } from '@troupe/testing/internal';
import { afterAll, describe, expect, it } from 'vitest';

const byName = (name: string) => scenarios.find((s) => s.name === name)!;
const pool = new ExplorerPool({ workers: 2 });
afterAll(() => pool.close());

describe('explorer pool', () => {
  it('explores every schedule of the budget across its workers, and finds nothing in the unbroken runtime', async () => {
    const result = await pool.explore(byName('build'), 'none', randomWalk({ seed: 11 }), {
      schedules: 60,
      timeMs: 60_000,
    });
    expect(result).toMatchObject({ found: false, schedules: 60, strategy: 'random' });
  });

  it('reports the violation of the lowest schedule index, as one thread would, and replays it', async () => {
    // This bug takes a dozen schedules or more to find: several violating schedules may be found
    // by the workers, in any order, and the lowest index must win.
    const scenario = byName('cancel');
    const options = { schedules: 100_000, timeMs: 20_000 };
    for (const strategy of [randomWalk({ seed: 1 }), pct({ seed: 1 })]) {
      const alone = await explore(scenario, 'release-node-on-cancel', strategy, options);
      const shared = await pool.explore(scenario, 'release-node-on-cancel', strategy, options);
      expect(alone.schedules).toBeGreaterThan(4);
      expect(alone.found).toBe(true);
      expect(shared.found).toBe(true);
      expect(shared.schedule).toEqual(alone.schedule);
      expect(shared.violation).toEqual(alone.violation);
      expect(shared.replayed).toBe(true);
      expect(shared.trace).toContain('violation');
    }
  });

  it('explores on the calling thread what cannot be split: exhaustive search, a scenario with no module', async () => {
    const { module: _, ...local } = byName('build');
    const exhaustiveRun = await pool.explore(byName('build'), 'none', exhaustive({ depth: 4 }), {
      schedules: 20,
    });
    expect(exhaustiveRun).toMatchObject({ found: false, strategy: 'exhaustive' });
    const localRun = await pool.explore(local as Scenario, 'none', randomWalk({ seed: 2 }), { schedules: 5 });
    expect(localRun).toMatchObject({ found: false, schedules: 5 });
  });

  it('a scenario its module does not export is a clear error', async () => {
    const ghost: Scenario = { ...byName('build'), name: 'no-such-scenario' };
    await expect(pool.explore(ghost, 'none', randomWalk(), { schedules: 4 })).rejects.toThrow(
      /exports no scenario named "no-such-scenario"/,
    );
  });
});

describe('explorer pool workers', () => {
  it('exit when the process that started them dies, and when the pool closes', async () => {
    const { spawn } = await import('node:child_process');
    const alive = isPidAlive;
    const script = `
      import { ExplorerPool } from '@troupe/testing';
      const pool = new ExplorerPool({ workers: 2 });
      await pool.explore({ name: 'nothing', setup: () => ({ run: async () => {} }) }, 'none', { name: 'none', schedule: () => undefined });
      console.log(JSON.stringify(pool.pids));
      setInterval(() => {}, 1000);
    `;
    const owner = spawn(process.execPath, ['--input-type=module', '-e', script], {
      cwd: new URL('.', import.meta.url),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const pids = await new Promise<number[]>((resolve, reject) => {
        owner.stdout.once('data', (chunk: Buffer) => resolve(JSON.parse(chunk.toString()) as number[]));
        owner.once('exit', (code) => reject(new Error(`the owner exited early (${code})`)));
      });
      expect(pids).toHaveLength(2);
      expect(pids.every(alive)).toBe(true);
      owner.kill('SIGKILL');
      for (let i = 0; i < 200 && pids.some(alive); i++) await new Promise((r) => setTimeout(r, 25));
      expect(pids.filter(alive)).toEqual([]);
    } finally {
      owner.kill('SIGKILL');
    }
    const pids = pool.pids;
    await pool.explore(byName('build'), 'none', randomWalk({ seed: 3 }), { schedules: 2 });
    const closing = new ExplorerPool({ workers: 1 });
    const [pid] = closing.pids;
    await closing.close();
    expect(alive(pid!)).toBe(false);
    expect(pids.every(alive)).toBe(true);
  });
});
