// A real implementation, on every kind of node: task modules are imported by Node.js from real
// files, so their stamps are the files' own (node:fs stat, node:crypto sha256), outside any seam.
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** What a module's file was when the node imported it. */
interface FileStamp {
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
  readonly sha256: string;
}

function stamp(path: string): FileStamp | undefined {
  try {
    const { size, mtimeMs } = statSync(path);
    return { path, size, mtimeMs, sha256: createHash('sha256').update(readFileSync(path)).digest('hex') };
  } catch {
    return undefined;
  }
}

/** The file a specifier names, when it names one (`node:` builtins and the like do not). */
function fileOf(specifier: string): string | undefined {
  try {
    const url = import.meta.resolve(specifier);
    return url.startsWith('file:') ? fileURLToPath(url) : undefined;
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
      // Stamped before the import reads the file: an edit racing the import counts as a change.
      const file = fileOf(specifier);
      const before = file === undefined ? undefined : stamp(file);
      loading = import(specifier) as Promise<Record<string, unknown>>;
      this.#loaded.set(specifier, loading);
      loading.then(
        () => {
          if (before) this.#stamps.set(specifier, before);
        },
        () => this.#loaded.delete(specifier),
      );
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
