// The model checker's part of a mutant's run: explores the unbroken runtime (variant `none`) of the
// named scenarios with a small budget, on this thread, in the checkout it runs from (the scratch
// worktree holding the mutant), and prints one JSON line: the first violation, or none.
//   node scripts/mutants/model.mjs --schedules 500 build cancel ...
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  options: { schedules: { type: 'string' }, seed: { type: 'string' } },
  allowPositionals: true,
});
const root = new URL('../../packages/testing/dist/', import.meta.url);
const { scenarios } = await import(new URL('scenarios/index.js', root).href);
const { explore } = await import(new URL('sim/explore.js', root).href);
const { pct, randomWalk } = await import(new URL('sim/strategies.js', root).href);

const budget = Number(values.schedules ?? 500);
const seed = Number(values.seed ?? 1);
const chosen = positionals.length ? positionals.map((n) => scenarios.find((s) => s.name === n)) : scenarios;
if (chosen.some((s) => !s)) throw new Error(`unknown scenario among ${positionals.join(', ')}`);

let schedules = 0;
for (const scenario of chosen) {
  // Half random walk, half PCT: the two strategies check:model runs on every core.
  for (const strategy of [randomWalk({ seed }), pct({ seed, depth: 3 })]) {
    const result = await explore(scenario, 'none', strategy, {
      schedules: Math.ceil(budget / 2),
      timeMs: 60_000,
      replay: false,
    });
    schedules += result.schedules;
    if (result.found) {
      const { monitor, message } = result.violation;
      process.stdout.write(
        `${JSON.stringify({ caught: true, scenario: scenario.name, strategy: result.strategy, monitor, message: String(message).slice(0, 300), schedules })}\n`,
      );
      process.exit(0);
    }
  }
}
process.stdout.write(`${JSON.stringify({ caught: false, schedules })}\n`);
process.exit(0);
