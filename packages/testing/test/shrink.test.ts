// Shrinking counterexamples: a shrunk schedule breaks the same monitor as the one found, is no
// longer, replays step for step, and is as short as bounded exhaustive search's shortest (the
// reference) within half again; its story names the fault and the monitor.
import {
  explore,
  formatStory,
  formatTrace,
  randomWalk,
  replay,
  type Scenario,
  type Schedule,
  shrink,
} from '@troupe/testing';
import {
  builtInScenarios,
  runSchedule,
  sameViolation,
  shortestCounterexample,
} from '@troupe/testing/internal';
import { describe, expect, it } from 'vitest';
import { runNode } from '../../../test/support/run-node.js';

function scenario(name: string): Scenario {
  const found = builtInScenarios.find((s) => s.name === name);
  if (!found) throw new Error(`no scenario ${name}`);
  return found;
}

async function counterexample(s: Scenario, variant: string): Promise<Schedule> {
  const result = await explore(s, variant, randomWalk({ seed: 1 }), {
    schedules: 10_000,
    timeMs: 60_000,
    replay: false,
  });
  if (!result.schedule) throw new Error(`${s.name} / ${variant} was not found`);
  return result.schedule;
}

describe('shrink', () => {
  // Variants whose first random-walk counterexample has steps to spare (17 → 9, 28 → 18, 23 → 12).
  for (const [name, variant] of [
    ['fence', 'renew-ignores-token'],
    ['build', 'lose-results-of-finished-requests'],
    ['fence', 'complete-ignores-token'],
  ] as const) {
    it(`${name} / ${variant}: the shrunk schedule breaks the same monitor, is shorter, replays, and is within 1.5× of exhaustive search's shortest`, async () => {
      const s = scenario(name);
      const found = await counterexample(s, variant);
      const original = await replay(s, found);
      const target = original.violation!;
      expect(target).toBeDefined();

      // No time limit that a busy machine could hit: the result is the same on every run.
      const shrunk = await shrink(s, found, { timeMs: 120_000 });
      expect(shrunk.steps).toBe(found.choices.length);
      expect(shrunk.shrunkSteps).toBe(shrunk.schedule.choices.length);
      expect(shrunk.shrunkSteps).toBeLessThan(shrunk.steps);
      expect(shrunk.violation.monitor).toBe(target.monitor);

      // Replays exactly, twice over: the same violation and the same trace, step for step.
      const first = await replay(s, shrunk.schedule);
      const second = await replay(s, shrunk.schedule);
      expect(first.violation).toEqual(shrunk.violation);
      expect(first.steps).toBe(shrunk.shrunkSteps);
      expect(formatTrace(second)).toBe(formatTrace(first));

      const shortest = await shortestCounterexample(s, variant, target, { timeMs: 60_000 });
      expect(shortest.steps).toBeDefined();
      expect(shrunk.shrunkSteps).toBeLessThanOrEqual(Math.floor(1.5 * shortest.steps!));
    });
  }

  it('the story of a shrunk schedule names each step, the fault, and what the monitor saw', async () => {
    const s = scenario('fence');
    const shrunk = await shrink(s, await counterexample(s, 'renew-ignores-token'), { timeMs: 120_000 });
    const again = await replay(s, shrunk.schedule);
    const story = formatStory(again, { shrunkFrom: shrunk.steps });
    const lines = story.split('\n');
    expect(lines[0]).toBe(
      `Scenario fence, variant renew-ignores-token, seed 1: ${shrunk.shrunkSteps} steps (shrunk from ${shrunk.steps}), 1 fault.`,
    );
    expect(story).toContain('It breaks the monitor "one worker per job past the fence".');
    // One numbered line per step, in order.
    const numbered = lines.filter((line) => /^\s*\d+\. /.test(line)).map((line) => Number.parseInt(line, 10));
    expect(numbered).toEqual(Array.from({ length: shrunk.shrunkSteps }, (_, i) => i + 1));
    expect(lines.filter((line) => /^\s*\d+\. FAULT: agent-a stalls$/.test(line))).toHaveLength(1);
    expect(story).toContain("agent-a's timer due at 10 ms fires");
    expect(story).toContain('receives JobRequest {jobId=job-1} from m1:connector');
    expect(lines.at(-1)).toBe(
      `The monitor "one worker per job past the fence" saw: ${shrunk.violation.message}`,
    );
  });

  it('a schedule that breaks nothing is refused', async () => {
    const s = scenario('shutdown');
    const fine = await runSchedule(s, 'none', 1, { choose: () => 0 });
    expect(fine.violation).toBeUndefined();
    await expect(shrink(s, fine.schedule)).rejects.toThrow(/violates nothing/);
  });

  it('the catch-all monitors are the same bug only when their messages match but for ids and numbers', () => {
    const threw = (message: string) => ({ monitor: 'no uncaught exceptions', message });
    expect(
      sameViolation(
        threw('timer of host due at 40 ms threw: request req-Q7.3 cannot go from cancelled to waiting'),
        threw('timer of host due at 25 ms threw: request req-Ab.1 cannot go from cancelled to waiting'),
      ),
    ).toBe(true);
    expect(
      sameViolation(
        threw('timer of host due at 40 ms threw: request req-Q7.3 cannot go from cancelled to waiting'),
        threw('timer of host due at 40 ms threw: the link is closed'),
      ),
    ).toBe(false);
    const overlap = (message: string) => ({ monitor: 'one active request per node', message });
    expect(sameViolation(overlap('node-1 was given a'), overlap('node-2 was given b'))).toBe(true);
    expect(sameViolation(overlap('x'), { monitor: 'jobs end once', message: 'x' })).toBe(false);
  });
});

describe('check:model', () => {
  it('--json: a variant found has steps and shrunkSteps; --trace: its shrunk schedule told as a story', async () => {
    const bin = new URL('../dist/bin/check-model.js', import.meta.url).pathname;
    // A shrinking budget no busy machine reaches: the shrunk length is the same on every run.
    const ran = await runNode([
      bin,
      ...['--scenario', 'shutdown', '--schedules', '30', '--workers', '0', '--shrink-ms', '600000'],
      ...['--json', '--trace'],
    ]);
    expect(ran.code, ran.stderr).toBe(0);
    const lines = ran.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.map((line) => line.variant)).toEqual(['none', 'send-after-exit']);
    expect(lines[0]).not.toHaveProperty('steps');
    // The same counterexample and shrink as its row of docs/testing.md (random walk, seed 1).
    expect(lines[1]).toMatchObject({ found: true, replayed: true, steps: 8, shrunkSteps: 7 });
    expect(ran.stderr).toContain(
      'Scenario shutdown, variant send-after-exit, seed 1: 7 steps (shrunk from 8), 0 faults.',
    );
    expect(ran.stderr).toContain('5. ACTION: operator shuts the node down');
    expect(ran.stderr).toContain(
      'The monitor "nothing after the exit packet" saw: BuildRequest was written to memory://node-1 after the exit packet',
    );
  });
});
