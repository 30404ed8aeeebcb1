// The public door of @troupe/testing, name by name: a new public name is a decision taken here,
// not a side effect of an export added for the bench or a test (those go to './internal').
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';

const kept = (names: string[]) => names;

const values = [
  'ExplorerPool',
  'SeededRandom',
  'SimulatedNodeProvider',
  'Simulation',
  'VirtualClock',
  'exhaustive',
  'explore',
  'formatTrace',
  'jobsEndOnce',
  'nothingAfterExitPacket',
  'oneActiveRequestOnNode',
  'oneActiveRequestPerNode',
  'oneHostPerNode',
  'pct',
  'randomWalk',
  'replay',
  'requestsEndOnce',
  'resultsMatchReference',
];

/** Types vanish at run time, so they are read from the index's source. */
const types = [
  'ExploreOptions',
  'ExploreResult',
  'ExplorerPoolOptions',
  'FaultBudget',
  'Monitor',
  'RunResult',
  'Scenario',
  'Schedule',
  'SimulatedNode',
  'Strategy',
  'TraceEntry',
  'Violation',
  'World',
];

/** The names of the index's `export { ... } from` lines, split into values and types. */
async function indexNames(): Promise<{ values: string[]; types: string[] }> {
  const source = await readFile(new URL('../src/index.ts', import.meta.url), 'utf8');
  // `export *` would hide its names from this list.
  expect(source).not.toMatch(/export\s+(type\s+)?\*/);
  const names = { values: [] as string[], types: [] as string[] };
  for (const [, allTypes, list = ''] of source.matchAll(/export\s+(type\s+)?\{([^}]*)\}/g))
    for (const item of list
      .split(',')
      .map((part) => part.trim())
      .filter(Boolean)) {
      const name =
        item
          .replace(/^type\s+/, '')
          .split(/\s+as\s+/)
          .at(-1) ?? item;
      (allTypes || item.startsWith('type ') ? names.types : names.values).push(name);
    }
  return { values: kept(names.values).sort(), types: kept(names.types).sort() };
}

describe('the public index of @troupe/testing', () => {
  it('exports exactly these values at run time', async () => {
    expect(kept(Object.keys(await import('@troupe/testing'))).sort()).toEqual(values);
  });

  it('declares exactly these names, values and types', async () => {
    expect(await indexNames()).toEqual({ values, types });
  });

  it('keeps what it exports out of the internal door', async () => {
    const internal = Object.keys(await import('@troupe/testing/internal'));
    expect(internal.filter((name) => values.includes(name))).toEqual([]);
  });
});
