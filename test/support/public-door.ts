// One check of a package's public door, shared by each package's exports test: its index exports
// exactly the listed values and types (so a new public name is a decision taken in that test),
// with no `export *` hiding names, and nothing it exports is also behind its internal door.
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';

/** The names of an index's `export { ... } from` lines, split into values and types. */
async function indexNames(index: URL): Promise<{ values: string[]; types: string[] }> {
  const source = await readFile(index, 'utf8');
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
  return { values: names.values.sort(), types: names.types.sort() };
}

export function describePublicDoor(
  pkg: string,
  index: URL,
  load: { index: () => Promise<object>; internal: () => Promise<object> },
  values: readonly string[],
  types: readonly string[],
): void {
  describe(`the public index of ${pkg}`, () => {
    it('exports exactly these values at run time', async () => {
      expect(Object.keys(await load.index()).sort()).toEqual(values);
    });

    it('declares exactly these names, values and types', async () => {
      expect(await indexNames(index)).toEqual({ values, types });
    });

    it('keeps the name of each class it exports (the bundle must not rename one)', async () => {
      const renamed = Object.entries(await load.index())
        .filter(([name, value]) => typeof value === 'function' && /^[A-Z]/.test(name))
        .filter(([name, value]) => (value as { name: string }).name !== name)
        .map(([name, value]) => `${name} is named ${(value as { name: string }).name}`);
      expect(renamed).toEqual([]);
    });

    it('keeps what it exports out of the internal door', async () => {
      const internal = Object.keys(await load.internal());
      expect(internal.filter((name) => values.includes(name))).toEqual([]);
    });
  });
}
