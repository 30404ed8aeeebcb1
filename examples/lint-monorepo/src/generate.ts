// Writes a generated monorepo to disk: root package.json, a shared tsconfig whose `paths` map each
// package's name to its sources, a tsconfig per package, one ESLint flat config with
// typescript-eslint's type-aware rules, and the packages' modules. Files whose content is already
// right are not rewritten, so regenerating the same repo leaves it (and its mtimes) as it was.
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, sep } from 'node:path';
import { indexSource, moduleSource } from './code.js';
import { type GenerateOptions, type PackagePlan, planRepo, type RepoPlan } from './plan.js';

export { DEFAULT_GENERATE, type GenerateOptions } from './plan.js';

/** What the root package.json says, so a later run knows the folder is ours to rewrite. */
export const GENERATED_BY = '@troupe/example-lint-monorepo';

export interface GeneratedRepo {
  root: string;
  packages: number;
  files: number;
  lines: number;
  /** Files written this time (0 when the repo on disk was already this one). */
  written: number;
}

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

export const ESLINT_CONFIG = `// The repo's one ESLint config: typescript-eslint's type-aware rules, with the project service
// finding each file's tsconfig (its package's), and a few stricter rules on top.
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['eslint.config.mjs', '**/dist/**'] },
  {
    files: ['packages/*/src/**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unnecessary-condition': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/prefer-nullish-coalescing': 'warn',
      '@typescript-eslint/require-await': 'warn',
      '@typescript-eslint/no-unused-vars': 'warn',
      eqeqeq: 'warn',
      'prefer-const': 'error',
    },
  },
);
`;

function rootFiles(plan: RepoPlan): Map<string, string> {
  const paths: Record<string, string[]> = {};
  for (const pkg of plan.packages) paths[pkg.name] = [`./${pkg.dir}/src/index.ts`];
  const { packages, lines, seed } = plan.options;
  return new Map([
    [
      'package.json',
      json({
        name: 'acme-monorepo',
        private: true,
        type: 'module',
        description: `${packages} packages of about ${lines} lines each, generated from seed ${seed}`,
        generatedBy: GENERATED_BY,
        workspaces: ['packages/*'],
      }),
    ],
    [
      'tsconfig.base.json',
      json({
        compilerOptions: {
          target: 'ES2022',
          lib: ['ES2022'],
          module: 'ESNext',
          moduleResolution: 'Bundler',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: [],
          paths,
        },
      }),
    ],
    ['eslint.config.mjs', ESLINT_CONFIG],
  ]);
}

function packageFiles(plan: RepoPlan, pkg: PackagePlan): Map<string, string> {
  const files = new Map<string, string>();
  const dependencies: Record<string, string> = {};
  for (const dep of pkg.deps) dependencies[plan.packages[dep]!.name] = '0.0.0';
  files.set(
    `${pkg.dir}/package.json`,
    json({
      name: pkg.name,
      version: '0.0.0',
      private: true,
      type: 'module',
      exports: './src/index.ts',
      dependencies,
    }),
  );
  files.set(`${pkg.dir}/tsconfig.json`, json({ extends: '../../tsconfig.base.json', include: ['src'] }));
  files.set(`${pkg.dir}/src/index.ts`, indexSource(pkg));
  pkg.modules.forEach((module, index) => {
    files.set(`${pkg.dir}/src/${module.file}`, moduleSource(plan, pkg, index));
  });
  return files;
}

/** Every file of the repo for these options, by path relative to its root. */
export function repoFiles(options: GenerateOptions): Map<string, string> {
  const plan = planRepo(options);
  const files = rootFiles(plan);
  for (const pkg of plan.packages) for (const [path, text] of packageFiles(plan, pkg)) files.set(path, text);
  return files;
}

/**
 * The node_modules folder this example resolves ESLint and typescript-eslint from: the generated
 * repo links to it, so its config's imports and a plain `eslint` run there find the same copies.
 */
export function toolModules(): string {
  const require = createRequire(import.meta.url);
  const folders = ['eslint/package.json', 'typescript-eslint/package.json'].map((name) => {
    const path = require.resolve(name);
    return path.slice(0, path.lastIndexOf(`${sep}node_modules${sep}`) + `${sep}node_modules`.length);
  });
  if (folders[0] !== folders[1])
    throw new Error(`eslint (${folders[0]}) and typescript-eslint (${folders[1]}) are installed apart`);
  return folders[0]!;
}

async function writeIfChanged(path: string, text: string): Promise<boolean> {
  const old = await readFile(path, 'utf8').catch(() => undefined);
  if (old === text) return false;
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, text);
  return true;
}

/** Removes what an earlier generation with other options left in packages/. */
async function prune(root: string, keep: ReadonlySet<string>, folder = 'packages'): Promise<void> {
  const entries = await readdir(join(root, folder), { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    const path = `${folder}/${entry.name}`;
    if (entry.isDirectory()) {
      if ([...keep].some((file) => file.startsWith(`${path}/`))) await prune(root, keep, path);
      else await rm(join(root, path), { recursive: true, force: true });
    } else if (!keep.has(path)) await rm(join(root, path), { force: true });
  }
}

/**
 * Generates the repo into `root`, which must be empty, missing, or a repo this generator made
 * (then it is brought to these options: changed files rewritten, files of dropped packages removed).
 */
export async function generateRepo(root: string, options: GenerateOptions): Promise<GeneratedRepo> {
  const existing = await readdir(root).catch(() => [] as string[]);
  if (existing.length > 0) {
    const manifest = await readFile(join(root, 'package.json'), 'utf8').catch(() => '{}');
    let generatedBy: unknown;
    try {
      generatedBy = (JSON.parse(manifest) as { generatedBy?: unknown }).generatedBy;
    } catch {
      generatedBy = undefined;
    }
    if (generatedBy !== GENERATED_BY)
      throw new Error(`${root} is not empty and was not made by this generator: give an empty or new folder`);
  }
  const files = repoFiles(options);
  let written = 0;
  let lines = 0;
  for (const [path, text] of files) {
    if (await writeIfChanged(join(root, path), text)) written++;
    if (path.endsWith('.ts')) lines += text.split('\n').length - 1;
  }
  await prune(root, new Set(files.keys()));
  const modules = join(root, 'node_modules');
  if (!existsSync(modules)) await symlink(toolModules(), modules, 'dir');
  return { root, packages: options.packages, files: files.size, lines, written };
}
