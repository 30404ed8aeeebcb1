// Bounded exhaustive search: what it reports having verified, and that its reductions (sleep
// sets, the state cache) hide nothing: the same states are reached with them as without, and
// every broken variant a random walk finds, it finds too, within its bound.
import { exhaustive, explore, type Strategy } from '@troupe/testing';
import { builtInScenarios, type Chooser, crashScenario, verify } from '@troupe/testing/internal';
import { describe, expect, it } from 'vitest';
import { runNode } from '../../../test/support/run-node.js';

/** The strategy, recording the hash of every state its schedules reach within `steps` steps. */
function recording(strategy: Strategy, steps: number): { strategy: Strategy; states: Set<string> } {
  const states = new Set<string>();
  return {
    states,
    strategy: {
      name: strategy.name,
      schedule(index) {
        const next = strategy.schedule(index);
        if (!next) return undefined;
        const inner = next.chooser;
        let at = 0;
        const chooser: Chooser = {
          choose: (enabled, sim) => inner.choose(enabled, sim),
          visit(enabled, sim, state) {
            if (at++ < steps) states.add(state());
            return inner.visit?.(enabled, sim, state) ?? true;
          },
        };
        return { seed: next.seed, chooser };
      },
      finished: (record) => strategy.finished?.(record),
    },
  };
}

describe('bounded exhaustive search', () => {
  for (const [steps, faults] of [
    [8, 0],
    [5, 1],
  ] as const) {
    it(`reaches the same states with sleep sets and the state cache as without each (${steps} steps, ${faults} crash)`, async () => {
      const reached: Array<Set<string>> = [];
      const schedules: number[] = [];
      for (const [reduce, cache] of [
        [false, true],
        [true, false],
        [true, true],
      ] as const) {
        const { strategy, states } = recording(exhaustive({ steps, faults, reduce, cache }), steps);
        const result = await explore(crashScenario, 'none', strategy, { schedules: 100_000, timeMs: 60_000 });
        expect(result.found).toBe(false);
        reached.push(states);
        schedules.push(result.schedules);
      }
      expect(reached[0]!.size).toBeGreaterThan(15);
      expect([...reached[1]!].sort()).toEqual([...reached[0]!].sort());
      expect([...reached[2]!].sort()).toEqual([...reached[0]!].sort());
      // Both reductions together run fewer schedules than either alone.
      expect(schedules[2]).toBeLessThan(Math.min(schedules[0]!, schedules[1]!));
    });
  }

  it('says what it verified once it has run out of schedules, and nothing before', async () => {
    const done = await explore(crashScenario, 'none', exhaustive({ steps: 1_000, faults: 0 }), {
      schedules: 100_000,
      timeMs: 60_000,
    });
    expect(done.found).toBe(false);
    expect(done.verified).toMatchObject({ steps: 1_000, faults: 0, complete: true });
    expect(done.verified!.states).toBeGreaterThan(100);
    expect(done.verified!.schedules).toBe(done.schedules);

    const cut = await explore(crashScenario, 'none', exhaustive({ steps: 1_000 }), { schedules: 5 });
    expect(cut.schedules).toBe(5);
    expect(cut.verified).toBeUndefined();

    // A bound shorter than the schedules: verified up to it, not to the end.
    const bounded = await verify(crashScenario, 'none', { steps: 4, maxSteps: 4, timeMs: 60_000 });
    expect(bounded.verified).toMatchObject({ steps: 4, faults: 1, complete: false });
  });

  // The retry scenario's bug needs a crash, a request's back-off after it, and the user's abort
  // within that back-off, some 40 steps in: a bound doubling from 16 steps spends its budget on
  // the shorter bounds (with 4 faults to place at every step), so it starts at its own.
  const firstBound: Record<string, number> = {
    'retry/backoff-outlives-request': 48,
    // A partition past the heartbeat timeout, the heal, the reconnect and the rerun: some 50 steps.
    'partition/apply-lost-incarnation': 64,
  };
  for (const scenario of builtInScenarios) {
    for (const variant of scenario.variants ?? []) {
      const steps = firstBound[`${scenario.name}/${variant}`] ?? 16;
      it(`finds ${scenario.name} / ${variant} within its bound, as a random walk does`, async () => {
        // Deterministic: the same schedules every run; the time is only a guard.
        const result = await verify(scenario, variant, { steps, timeMs: 100_000 });
        expect(
          result.found,
          `${result.schedules} schedules, verified ${JSON.stringify(result.verified)}`,
        ).toBe(true);
      }, 120_000);
    }
  }
});

describe('check:model', () => {
  it('--json: the unbroken runtime has verifiedSteps, verifiedFaults and verifiedStates; the text says "verified"', async () => {
    const bin = new URL('../dist/bin/check-model.js', import.meta.url).pathname;
    // shutdown's schedules are short: its exhaustive search runs to the end of every one.
    const options = ['--scenario', 'shutdown', '--schedules', '30', '--workers', '0', '--shrink-ms', '0'];
    const json = await runNode([bin, ...options, '--verify-ms', '600000', '--json']);
    expect(json.code, json.stderr).toBe(0);
    const [unbroken] = json.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(unbroken).toMatchObject({ variant: 'none', found: false, verifiedFaults: 0 });
    expect(unbroken!.verifiedSteps).toBeGreaterThanOrEqual(16);
    expect(unbroken!.verifiedStates).toBeGreaterThan(10);
    const text = await runNode([bin, ...options, '--verify-ms', '600000']);
    expect(text.stdout).toMatch(
      /verified: every schedule to its end without faults \(all shorter than \d+ steps\), \d+ distinct states/,
    );
  });
});
