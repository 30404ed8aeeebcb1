// A real implementation, on every kind of node: task modules are imported by Node.js from real
// files, so their stamps are the files' own (node:fs stat, node:crypto sha256), outside any seam;
// a package name is resolved from the node's working directory (process.cwd).
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** What a module's file was when the node imported it. */
interface FileStamp {
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
  readonly sha256: string;
}

/**
 * The last stamp taken of each file in this process. Every in-process node (and every world the
 * model checker builds, two nodes each) stamps the same task files: one with the size and mtime
 * the file still has is not read and hashed again, by the same rule `changed()` follows (same
 * size and mtime: no change).
 */
const stamps = new Map<string, FileStamp>();

function stamp(path: string): FileStamp | undefined {
  try {
    const { size, mtimeMs } = statSync(path);
    const last = stamps.get(path);
    if (last && last.size === size && last.mtimeMs === mtimeMs) return last;
    const fresh = {
      path,
      size,
      mtimeMs,
      sha256: createHash('sha256').update(readFileSync(path)).digest('hex'),
    };
    // A process imports few task files; the bound is against one that generates them.
    if (stamps.size < 1_024 || stamps.has(path)) stamps.set(path, fresh);
    return fresh;
  } catch {
    return undefined;
  }
}

/** A package name (`@acme/build-tasks`, `lodash/fp`), not a file URL or a path. */
function isBare(specifier: string): boolean {
  return !/^(\.{0,2}\/|[a-zA-Z][a-zA-Z\d+.-]+:)/.test(specifier);
}

/**
 * Where a specifier leads. A package name is looked up from the node's working directory, as
 * `node` run there would: a remote node's task packages are installed in its project, not
 * beside troupe (which may be installed anywhere). Only a package not found there is looked up
 * from troupe's own place, as it was before nodes left the machine.
 */
async function locate(specifier: string): Promise<string> {
  if (!isBare(specifier)) return specifier;
  // Loaded only for package names: most nodes load files, and pay nothing for it.
  const { resolve: resolveFrom } = await import('import-meta-resolve');
  try {
    return resolveFrom(specifier, pathToFileURL(`${process.cwd()}/`).href);
  } catch {
    try {
      return import.meta.resolve(specifier);
    } catch {
      // Not found anywhere: the import says why, in Node's words.
      return specifier;
    }
  }
}

/** The file a resolved specifier names, when it names one (`node:` builtins and the like do not). */
function fileOf(url: string): string | undefined {
  try {
    const resolved = url.startsWith('file:') ? url : import.meta.resolve(url);
    return resolved.startsWith('file:') ? fileURLToPath(resolved) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The task modules a node imported, each once, and the files they came from. Node's module cache
 * keeps the code a module had when it was first imported, so a node kept for reuse would run an
 * edited task file's old code in the next build: `changed()` says when that is so, and the node
 * then retires instead of serving (a fresh node imports the new code).
 */
export class TaskModules {
  readonly #loaded = new Map<string, Promise<Record<string, unknown>>>();
  readonly #stamps = new Map<string, FileStamp>();

  load(specifier: string): Promise<Record<string, unknown>> {
    let loading = this.#loaded.get(specifier);
    if (!loading) {
      loading = (async () => {
        const url = await locate(specifier);
        // Stamped before the import reads the file: an edit racing the import counts as a change.
        const file = fileOf(url);
        const before = file === undefined ? undefined : stamp(file);
        let module: Record<string, unknown>;
        try {
          module = (await import(url)) as Record<string, unknown>;
        } catch (error) {
          // The host hears which node failed; the node says what it could not load, and from where.
          const cause = error as Error;
          const wrapped = new Error(
            `could not load ${specifier}${isBare(specifier) ? ` (from ${process.cwd()})` : ''}: ${cause.message}`,
            { cause },
          );
          // A SyntaxError in the module stays one.
          wrapped.name = cause.name ?? 'Error';
          throw wrapped;
        }
        if (before) this.#stamps.set(specifier, before);
        return module;
      })();
      this.#loaded.set(specifier, loading);
      loading.catch(() => this.#loaded.delete(specifier));
    }
    return loading;
  }

  /**
   * The first imported module whose file changed since, with how; undefined when none did. One
   * stat per module, and a read only when size or mtime moved (a touch alone is no change).
   */
  changed(): string | undefined {
    for (const [specifier, before] of this.#stamps) {
      let now: { size: number; mtimeMs: number };
      try {
        now = statSync(before.path);
      } catch {
        return `${specifier} (${before.path}) is gone`;
      }
      if (now.size === before.size && now.mtimeMs === before.mtimeMs) continue;
      const after = stamp(before.path);
      if (after?.sha256 !== before.sha256) return `${specifier} (${before.path}) changed on disk`;
    }
    return undefined;
  }
}
