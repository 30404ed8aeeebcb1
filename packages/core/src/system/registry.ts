import { readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ensurePrivateDirectory } from '@troupe/transport/internal';
import { isPidAlive } from './launcher.js';

/**
 * What a reusable node leaves in the per-user directory so that later hosts can find it:
 * `troupe-node-<pid>.json` beside its socket `troupe-node-<pid>.sock`.
 */
export interface NodeRecord {
  pid: number;
  /** Where it listens. */
  address: string;
  /** Hex of its 36-byte handshake block: a host reuses it only on an exact match. */
  handshake: string;
  /** Human summary of the handshake, for `troupe nodes list`. */
  summary: string;
  /** Its stdout/stderr file, removed when it exits cleanly. */
  outputFile?: string;
}

export interface ListedNode extends NodeRecord {
  /** How long ago it registered (file age). */
  ageMs: number;
  /** When it registered (its record's mtime, ms since the epoch): older nodes first when few may stay. */
  registeredAtMs: number;
}

const PREFIX = 'troupe-node-';

export function nodeName(pid: number): string {
  return `${PREFIX}${pid}`;
}

export class NodeRegistry {
  constructor(readonly directory: string) {}

  recordPath(pid: number): string {
    return join(this.directory, `${nodeName(pid)}.json`);
  }

  async register(record: NodeRecord): Promise<void> {
    const path = this.recordPath(record.pid);
    const temporary = `${path}.${process.pid}.tmp`;
    // The record may be the first thing to go into the directory (a node registers before it
    // listens), and the directory may have been removed since the last record was written.
    await ensurePrivateDirectory(this.directory);
    await writeFile(temporary, JSON.stringify(record), { mode: 0o600 });
    // Readers never see a half-written record.
    await rename(temporary, path);
  }

  /** Writes the record again if it is gone (a temp cleaner removed the directory); resolves whether it had to. */
  async restore(record: NodeRecord): Promise<boolean> {
    try {
      await stat(this.recordPath(record.pid));
      return false;
    } catch {
      await this.register(record);
      return true;
    }
  }

  async unregister(pid: number): Promise<void> {
    await unlink(this.recordPath(pid)).catch(() => {});
  }

  /**
   * Live reusable nodes of this user. Records of dead processes are removed on the way, with
   * their socket and output files, so leftovers from crashes do not pile up.
   */
  async list(now: number): Promise<ListedNode[]> {
    let names: string[];
    try {
      names = await readdir(this.directory);
    } catch {
      return [];
    }
    const out: ListedNode[] = [];
    for (const name of names) {
      if (!name.startsWith(PREFIX) || !name.endsWith('.json')) continue;
      const path = join(this.directory, name);
      let record: NodeRecord;
      let ageMs: number;
      let registeredAtMs: number;
      try {
        const [text, stats] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
        record = JSON.parse(text) as NodeRecord;
        ageMs = Math.max(0, now - stats.mtimeMs);
        registeredAtMs = stats.mtimeMs;
        if (!Number.isInteger(record.pid) || typeof record.address !== 'string')
          throw new Error('bad record');
      } catch {
        continue;
      }
      if (!isPidAlive(record.pid)) {
        await Promise.all([
          unlink(path).catch(() => {}),
          unlink(record.address).catch(() => {}),
          record.outputFile ? unlink(record.outputFile).catch(() => {}) : undefined,
        ]);
        continue;
      }
      out.push({ ...record, ageMs, registeredAtMs });
    }
    return out.sort((a, b) => a.pid - b.pid);
  }
}
