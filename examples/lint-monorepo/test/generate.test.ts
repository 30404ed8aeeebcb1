// The generator and the repo reader, without ESLint: the same seed makes the same repo, packages
// depend only on lower layers, regenerating rewrites nothing, and the fingerprint sees an edit.
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateRepo, repoFiles } from '../dist/generate.js';
import { planRepo } from '../dist/plan.js';
import { readRepo } from '../dist/repo.js';

let temp: string;

beforeEach(async () => {
  temp = await mkdtemp(join(tmpdir(), 'lint-monorepo-gen-'));
});

afterEach(async () => {
  await rm(temp, { recursive: true, force: true });
});

const linesOf = (files: Map<string, string>, prefix: string) =>
  [...files]
    .filter(([path]) => path.startsWith(prefix) && path.endsWith('.ts'))
    .reduce((sum, [, text]) => sum + text.split('\n').length - 1, 0);

describe('the monorepo generator', () => {
  it('makes the same files from the same seed, and other files from another', () => {
    const options = { packages: 6, lines: 500, seed: 11 };
    expect(repoFiles(options)).toEqual(repoFiles(options));
    expect(repoFiles({ ...options, seed: 12 })).not.toEqual(repoFiles(options));
  });

  it('lays packages out in layers, each depending only on packages of lower layers', () => {
    const plan = planRepo({ packages: 40, lines: 2500, seed: 1 });
    expect(plan.packages).toHaveLength(40);
    expect(new Set(plan.packages.map((pkg) => pkg.name)).size).toBe(40);
    const layers = new Set(plan.packages.map((pkg) => pkg.layer));
    expect(layers.size).toBeGreaterThanOrEqual(5);
    for (const pkg of plan.packages) {
      if (pkg.layer === 0) expect(pkg.deps).toEqual([]);
      else expect(pkg.deps.length).toBeGreaterThan(0);
      for (const dep of pkg.deps) expect(plan.packages[dep]!.layer).toBeLessThan(pkg.layer);
    }
  });

  it('writes about the lines asked for per package, importing what dependents use from their dependencies', () => {
    const options = { packages: 5, lines: 1500, seed: 3 };
    const files = repoFiles(options);
    const plan = planRepo(options);
    for (const pkg of plan.packages) {
      const lines = linesOf(files, `${pkg.dir}/`);
      expect(lines).toBeGreaterThan(1300);
      expect(lines).toBeLessThan(1900);
      const sources = [...files]
        .filter(([path]) => path.startsWith(`${pkg.dir}/src/`))
        .map(([, text]) => text);
      for (const dep of pkg.deps) {
        const name = plan.packages[dep]!.name;
        expect(sources.some((text) => text.includes(`from '${name}';`))).toBe(true);
      }
    }
    const paths = JSON.parse(files.get('tsconfig.base.json')!).compilerOptions.paths;
    expect(Object.keys(paths).sort()).toEqual(plan.packages.map((pkg) => pkg.name).sort());
  });

  it('regenerating rewrites nothing; fewer packages removes the dropped ones; a foreign folder is refused', async () => {
    const root = join(temp, 'repo');
    const first = await generateRepo(root, { packages: 4, lines: 200, seed: 5 });
    expect(first.written).toBe(first.files);
    expect((await generateRepo(root, { packages: 4, lines: 200, seed: 5 })).written).toBe(0);
    await generateRepo(root, { packages: 2, lines: 200, seed: 5 });
    const kept = planRepo({ packages: 2, lines: 200, seed: 5 }).packages.map((pkg) => pkg.dir.split('/')[1]);
    expect((await readdir(join(root, 'packages'))).sort()).toEqual(kept.sort());

    const foreign = join(temp, 'foreign');
    await mkdir(foreign);
    await writeFile(join(foreign, 'notes.txt'), 'mine');
    await expect(generateRepo(foreign, { packages: 1, lines: 100, seed: 1 })).rejects.toThrow(
      /not empty and was not made by this generator/,
    );
  });
});

describe('reading a repo', () => {
  it("finds the workspace packages, and its fingerprint changes with a file's content only", async () => {
    const root = join(temp, 'repo');
    await generateRepo(root, { packages: 3, lines: 150, seed: 9 });
    const before = await readRepo(root);
    const plan = planRepo({ packages: 3, lines: 150, seed: 9 });
    expect(before.packages.map((pkg) => [pkg.dir, pkg.name])).toEqual(
      plan.packages.map((pkg) => [pkg.dir, pkg.name]).sort(([a], [b]) => (a! < b! ? -1 : 1)),
    );
    for (const pkg of before.packages) expect(pkg.bytes).toBeGreaterThan(0);
    expect((await readRepo(root)).fingerprint).toBe(before.fingerprint);
    const file = join(root, plan.packages[0]!.dir, 'src', 'index.ts');
    await writeFile(file, '// emptied\n');
    expect((await readRepo(root)).fingerprint).not.toBe(before.fingerprint);
    await expect(readRepo(join(temp, 'missing'))).rejects.toThrow(/no readable package.json/);
  });
});
