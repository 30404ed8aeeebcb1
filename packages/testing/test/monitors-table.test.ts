// The revert table: every monitor in the code (and every check the explorer makes itself) has a
// broken variant that must keep failing it, or is listed as a gap with its reason; every variant
// of the scenarios is in the table; and docs/testing.md shows the same table. That each variant
// is caught by its monitor is checked where the variants are explored (model.test.ts).
import { readFile } from 'node:fs/promises';
import { createRuntime, MemoryJobServer } from '@troupe/core';
import { SimulatedNodeProvider, Simulation } from '@troupe/testing';
import { builtInScenarios, REVERT_TABLE, WITHOUT_VARIANT } from '@troupe/testing/internal';
import { describe, expect, it } from 'vitest';
import * as incarnations from '../src/sim/incarnations.js';
import * as liveness from '../src/sim/liveness.js';
import * as monitors from '../src/sim/monitors.js';
import type { Monitor } from '../src/sim/simulation.js';

/** The name each monitor factory's monitor reports violations under, read from a real instance. */
async function monitorNames(): Promise<Map<string, string>> {
  const sim = new Simulation();
  const runtime = createRuntime({
    nodes: { provider: new SimulatedNodeProvider(sim), max: 1 },
    clock: sim.clock,
    random: sim.random,
  });
  const server = new MemoryJobServer({ clock: sim.clock });
  // What each factory is made with; a factory missing here fails the test below.
  const made: Record<string, () => Monitor> = {
    nothingAfterExitPacket: () => monitors.nothingAfterExitPacket(),
    oneActiveRequestPerNode: () => monitors.oneActiveRequestPerNode(),
    oneActiveRequestOnNode: () => monitors.oneActiveRequestOnNode(),
    oneHostPerNode: () => monitors.oneHostPerNode(),
    requestsEndOnce: () => monitors.requestsEndOnce(sim, runtime),
    resultsMatchReference: () => monitors.resultsMatchReference(sim, runtime, () => undefined),
    jobsEndOnce: () => monitors.jobsEndOnce(server, () => new Set()),
    jobsHaveOneResult: () => monitors.jobsHaveOneResult(server),
    resultsFromTheHolder: () => monitors.resultsFromTheHolder(sim, server),
    oneWorkerPerJobPastTheFence: () => monitors.oneWorkerPerJobPastTheFence(sim, server, [], 1),
    hotStates: () => liveness.hotStates(sim, runtime, { bound: 1 }),
    lostIncarnationsFenced: () => incarnations.lostIncarnationsFenced(sim, runtime),
  };
  const names = new Map<string, string>();
  try {
    for (const [factory, value] of [
      ...Object.entries(monitors),
      ...Object.entries(liveness),
      ...Object.entries(incarnations),
    ]) {
      if (typeof value !== 'function' || factory === 'describeWaits') continue;
      const make = made[factory];
      if (!make) throw new Error(`monitor ${factory} is new: give it a variant in the revert table`);
      names.set(factory, make().name);
    }
  } finally {
    await runtime.shutdown();
  }
  return names;
}

/** The checks the explorer makes itself, as they report violations (schedule.ts). */
async function explorerChecks(): Promise<string[]> {
  const source = await readFile(new URL('../src/sim/schedule.ts', import.meta.url), 'utf8');
  return [...source.matchAll(/violate\(\s*'([^']+)'/g)].map((match) => match[1]!);
}

/** The table in docs/testing.md: monitor → its variants, or its gap (`none yet: why`). */
async function docsTable(): Promise<Map<string, string>> {
  const docs = await readFile(new URL('../../../docs/testing.md', import.meta.url), 'utf8');
  const section = docs.slice(docs.indexOf('## Proof that it catches what it claims'));
  const rows = new Map<string, string>();
  for (const line of section.split('\n').slice(1)) {
    if (line.startsWith('## ')) break;
    const cells = line.split('|').map((cell) => cell.trim());
    if (cells.length < 4 || cells[1] === 'monitor' || cells[1]!.startsWith('-')) continue;
    rows.set(cells[1]!.replaceAll('`', ''), cells[2]!);
  }
  return rows;
}

describe('the revert table', () => {
  it('lists every monitor and explorer check, each with a variant that must keep failing it or a stated gap', async () => {
    const names = [...(await monitorNames()).values(), ...(await explorerChecks())];
    expect(new Set(names).size).toBe(names.length);
    const listed = [...Object.keys(REVERT_TABLE), ...Object.keys(WITHOUT_VARIANT)];
    expect(listed.sort()).toEqual([...names].sort());
    for (const [monitor, variants] of Object.entries(REVERT_TABLE))
      expect(variants.length, monitor).toBeGreaterThan(0);
  });

  it('lists every variant of the scenarios once, and only those', () => {
    const variants = builtInScenarios.flatMap((s) => (s.variants ?? []).map((v) => `${s.name}/${v}`));
    expect(Object.values(REVERT_TABLE).flat().sort()).toEqual([...variants].sort());
  });

  it('is the table docs/testing.md shows', async () => {
    const rows = await docsTable();
    const expected = new Map<string, string>([
      ...Object.entries(REVERT_TABLE).map(([m, v]): [string, string] => [
        m,
        v.map((x) => `\`${x}\``).join(', '),
      ]),
      ...Object.entries(WITHOUT_VARIANT).map(([m, why]): [string, string] => [m, `none yet: ${why}`]),
    ]);
    expect(Object.fromEntries(rows)).toEqual(Object.fromEntries(expected));
  });
});
