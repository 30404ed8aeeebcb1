// What the host reads of a repo before linting it: its workspace packages, a fingerprint of every
// file a lint could read, so a node can tell whether the state it kept is still the repo's, and per
// package a key for its lint results, so an unchanged package's results can be reused.
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, posix } from 'node:path';

export interface RepoPackage {
  /** Its package.json's name, or its folder when it has none. */
  name: string;
  /** Relative to the repo's root, with forward slashes: `packages/billing`. */
  dir: string;
  /** Bytes of its source files: the request's cost, so the largest packages start first. */
  bytes: number;
  /** The workspace packages its package.json depends on (their dirs), as declared. */
  deps: string[];
  /**
   * What its lint results depend on: a digest of the content of its files and of every package it
   * depends on, directly or not, and of the repo's shared files (config, tsconfig.base.json) and
   * the versions of ESLint, typescript-eslint and TypeScript the repo resolves.
   */
  key: string;
}

export interface RepoView {
  root: string;
  packages: RepoPackage[];
  /** A digest of every file's path, size and mtime (node_modules, dist and dot folders left out). */
  fingerprint: string;
}

interface Manifest {
  name?: unknown;
  dependencies?: unknown;
  devDependencies?: unknown;
  peerDependencies?: unknown;
}

const SKIPPED = new Set(['node_modules', 'dist', 'coverage']);

interface Entry {
  path: string;
  size: number;
  mtimeMs: number;
}

const sha256 = (text: string | Buffer) => createHash('sha256').update(text).digest('hex');

/** The versions of the tools a lint's results depend on, as the repo resolves them. */
function toolVersions(root: string): string {
  const require = createRequire(join(root, 'package.json'));
  return ['eslint', 'typescript-eslint', 'typescript']
    .map((name) => {
      try {
        return `${name}@${(require(`${name}/package.json`) as { version: string }).version}`;
      } catch {
        return `${name}@none`;
      }
    })
    .join(' ');
}

/**
 * Every package's results key (RepoPackage.key). A package's dependencies are the ones its
 * package.json declares: a workspace package imported without being declared is not followed.
 */
async function resultKeys(
  root: string,
  files: readonly Entry[],
  packages: ReadonlyArray<{ dir: string; deps: readonly string[] }>,
): Promise<Map<string, string>> {
  const owner = (path: string) => packages.find((pkg) => path.startsWith(`${pkg.dir}/`))?.dir;
  const shared = createHash('sha256').update(toolVersions(root));
  const byPackage = new Map<string, string[]>(packages.map((pkg) => [pkg.dir, []]));
  for (const file of files) {
    const line = `${file.path}\0${sha256(await readFile(join(root, file.path)))}\n`;
    const dir = owner(file.path);
    if (dir === undefined) shared.update(line);
    else byPackage.get(dir)!.push(line);
  }
  const sharedDigest = shared.digest('hex');
  const deps = new Map(packages.map((pkg) => [pkg.dir, pkg.deps]));
  const keys = new Map<string, string>();
  for (const pkg of packages) {
    const closure = new Set<string>([pkg.dir]);
    for (const dir of closure) for (const dep of deps.get(dir) ?? []) closure.add(dep);
    const hash = createHash('sha256').update(`${pkg.dir}\0${sharedDigest}\n`);
    for (const dir of [...closure].sort()) for (const line of byPackage.get(dir)!) hash.update(line);
    keys.set(pkg.dir, hash.digest('hex').slice(0, 32));
  }
  return keys;
}

async function walk(root: string, folder: string, into: Entry[]): Promise<void> {
  const entries = await readdir(join(root, folder), { withFileTypes: true });
  for (const entry of entries) {
    if (entry.name.startsWith('.') || SKIPPED.has(entry.name)) continue;
    const path = folder === '' ? entry.name : `${folder}/${entry.name}`;
    if (entry.isDirectory()) await walk(root, path, into);
    else if (entry.isFile()) {
      const info = await stat(join(root, path));
      into.push({ path, size: info.size, mtimeMs: info.mtimeMs });
    }
  }
}

/** The workspace patterns of the root package.json this reader understands: `dir/*` and `dir`. */
function workspaceFolders(manifest: { workspaces?: unknown }): string[] {
  const patterns = Array.isArray(manifest.workspaces) ? manifest.workspaces : ['packages/*'];
  return patterns.filter((pattern): pattern is string => typeof pattern === 'string');
}

/** Reads the repo at `root`: its packages (from the root package.json's workspaces) and fingerprint. */
export async function readRepo(root: string): Promise<RepoView> {
  let manifest: { workspaces?: unknown };
  try {
    manifest = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { workspaces?: unknown };
  } catch (error) {
    throw new Error(`${root} has no readable package.json: ${(error as Error).message}`);
  }
  const files: Entry[] = [];
  await walk(root, '', files);
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const hash = createHash('sha256');
  for (const file of files) hash.update(`${file.path}\0${file.size}\0${file.mtimeMs}\n`);

  const dirs = new Set<string>();
  for (const pattern of workspaceFolders(manifest)) {
    if (pattern.endsWith('/*')) {
      const parent = pattern.slice(0, -2);
      for (const file of files) {
        const rest = file.path.startsWith(`${parent}/`) ? file.path.slice(parent.length + 1) : undefined;
        if (rest?.endsWith('/package.json') && rest.split('/').length === 2)
          dirs.add(posix.dirname(file.path));
      }
    } else if (files.some((file) => file.path === `${pattern}/package.json`)) dirs.add(pattern);
  }
  const found: Array<Omit<RepoPackage, 'deps' | 'key'> & { declared: string[] }> = [];
  for (const dir of [...dirs].sort()) {
    let name = dir;
    let declared: string[] = [];
    try {
      const own = JSON.parse(await readFile(join(root, dir, 'package.json'), 'utf8')) as Manifest;
      if (typeof own.name === 'string') name = own.name;
      declared = [own.dependencies, own.devDependencies, own.peerDependencies].flatMap((map) =>
        map !== null && typeof map === 'object' ? Object.keys(map) : [],
      );
    } catch {
      // A package.json that does not parse still marks a package; ESLint will say what it finds.
    }
    const bytes = files
      .filter((file) => file.path.startsWith(`${dir}/`) && /\.[cm]?[jt]sx?$/.test(file.path))
      .reduce((sum, file) => sum + file.size, 0);
    found.push({ name, dir, bytes, declared });
  }
  const dirOf = new Map(found.map((pkg) => [pkg.name, pkg.dir]));
  const withDeps = found.map(({ declared, ...pkg }) => ({
    ...pkg,
    deps: declared.flatMap((name) => dirOf.get(name) ?? []).filter((dir) => dir !== pkg.dir),
  }));
  const keys = await resultKeys(root, files, withDeps);
  const packages: RepoPackage[] = withDeps.map((pkg) => ({ ...pkg, key: keys.get(pkg.dir)! }));
  if (packages.length === 0)
    throw new Error(
      `${root} has no workspace packages (looked for ${workspaceFolders(manifest).join(', ')})`,
    );
  return { root, packages, fingerprint: hash.digest('hex').slice(0, 32) };
}
