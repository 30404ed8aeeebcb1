// What the host reads of a repo before linting it: its workspace packages, and a fingerprint of
// every file a lint could read, so a node can tell whether the state it kept is still the repo's.
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';

export interface RepoPackage {
  /** Its package.json's name, or its folder when it has none. */
  name: string;
  /** Relative to the repo's root, with forward slashes: `packages/billing`. */
  dir: string;
  /** Bytes of its source files: the request's cost, so the largest packages start first. */
  bytes: number;
}

export interface RepoView {
  root: string;
  packages: RepoPackage[];
  /** A digest of every file's path, size and mtime (node_modules, dist and dot folders left out). */
  fingerprint: string;
}

const SKIPPED = new Set(['node_modules', 'dist', 'coverage']);

interface Entry {
  path: string;
  size: number;
  mtimeMs: number;
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
  const packages: RepoPackage[] = [];
  for (const dir of [...dirs].sort()) {
    let name = dir;
    try {
      const own = JSON.parse(await readFile(join(root, dir, 'package.json'), 'utf8')) as { name?: unknown };
      if (typeof own.name === 'string') name = own.name;
    } catch {
      // A package.json that does not parse still marks a package; ESLint will say what it finds.
    }
    const bytes = files
      .filter((file) => file.path.startsWith(`${dir}/`) && /\.[cm]?[jt]sx?$/.test(file.path))
      .reduce((sum, file) => sum + file.size, 0);
    packages.push({ name, dir, bytes });
  }
  if (packages.length === 0)
    throw new Error(
      `${root} has no workspace packages (looked for ${workspaceFolders(manifest).join(', ')})`,
    );
  return { root, packages, fingerprint: hash.digest('hex').slice(0, 32) };
}
