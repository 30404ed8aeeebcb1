// The real local-socket transport (Unix domain sockets, Windows named pipes) and the private
// directory its sockets live in: real sockets and files. The simulator replaces it with its own Transport.
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { createServer, connect as netConnect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { AddressInUseError, ListenError, UnsafeDirectoryError } from '../errors.js';
import type { Link } from '../link.js';
import { type RandomSource, systemRandom } from '../random.js';
import { type ConnectOptions, Listener, type ListenOptions, type Transport } from '../transport.js';
import { acceptSockets, closeServer, connectSocket, listening } from './socket.js';

export interface PipeTransportOptions {
  /** Where Unix sockets live. Default: `$TROUPE_SOCKET_DIR`, else `<tmpdir>/troupe-<uid>`. */
  directory?: string;
  random?: RandomSource;
}

const isWindows = process.platform === 'win32';

/** The per-user socket directory; only its owner may enter it. */
export function defaultSocketDirectory(): string {
  return process.env.TROUPE_SOCKET_DIR ?? join(tmpdir(), `troupe-${userInfo().uid}`);
}

/**
 * Creates the directory 0700 (and its missing parents), or checks an existing one: a real
 * directory (not a link), owned by this user, closed to everyone else. A directory another user
 * could enter or replace would let them connect to, or impersonate, this user's nodes. Called
 * wherever something goes into the directory (a socket, a node's output file, a registry record),
 * not once at start-up: a first run finds no directory, and a temp cleaner may remove it mid-run.
 * Throws `UnsafeDirectoryError` (naming the directory) when it cannot be made safe.
 */
export async function ensurePrivateDirectory(directory: string): Promise<void> {
  try {
    await mkdir(directory, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new UnsafeDirectoryError(directory, `it cannot be created (${(error as Error).message})`, {
      cause: error,
    });
  }
  const stats = await lstat(directory);
  if (!stats.isDirectory())
    throw new UnsafeDirectoryError(directory, 'it is not a directory (or is a symbolic link)');
  const uid = process.getuid?.();
  if (uid !== undefined && stats.uid !== uid) {
    throw new UnsafeDirectoryError(directory, `it belongs to uid ${stats.uid}, not ${uid}`);
  }
  if ((stats.mode & 0o777) === 0o700) return;
  // Ours but open to others (or closed to us): ours to fix, and refused if that fails.
  try {
    await chmod(directory, 0o700);
  } catch (error) {
    throw new UnsafeDirectoryError(
      directory,
      `its mode is ${(stats.mode & 0o777).toString(8).padStart(4, '0')} and it cannot be changed to 0700 (${(error as Error).message})`,
      { cause: error },
    );
  }
}

/**
 * Unix domain sockets in a private directory (named pipes on Windows). The fastest link between
 * processes of one machine, and the default for process nodes.
 */
export class PipeTransport implements Transport {
  readonly kind = 'pipe' as const;
  readonly directory: string;
  readonly #random: RandomSource;
  /** How to put back each open listener's socket file, by its path. */
  readonly #restorers = new Map<string, () => Promise<boolean>>();

  constructor(options: PipeTransportOptions = {}) {
    this.directory = options.directory ?? defaultSocketDirectory();
    this.#random = options.random ?? systemRandom;
  }

  /** The path for a bare name: inside the private directory, or a named pipe on Windows. */
  pathFor(name: string): string {
    if (isWindows) return `\\\\.\\pipe\\troupe-${userInfo().username}-${name}`;
    return join(this.directory, `${name}.sock`);
  }

  /**
   * Removes the socket file for `name` if nothing listens on it: what a process that was killed
   * (or ended by `process.exit`) leaves behind. Resolves whether anything was removed; never
   * touches a live socket or anything that is not a socket.
   */
  async removeStale(name: string): Promise<boolean> {
    if (isWindows) return false;
    try {
      return await removeStaleSocket(this.pathFor(name));
    } catch {
      return false;
    }
  }

  async listen(options: ListenOptions = {}): Promise<Listener> {
    const requested = options.address ?? `troupe-${process.pid}-${this.#random.id(8)}`;
    const path = isWindows || isAbsolute(requested) ? requested : this.pathFor(requested);
    if (!isWindows) {
      if (!isAbsolute(requested)) await ensurePrivateDirectory(this.directory);
      await removeStaleSocket(path);
    }
    const bind = async () => {
      const server = createServer({ allowHalfOpen: true });
      const accepting = acceptSockets(server, 'connection');
      await listening(server, () => server.listen(path), path);
      // The directory already keeps other users out; the mode on the socket is a second lock.
      if (!isWindows) await chmod(path, 0o600);
      return { server, accepting };
    };
    const first = await bind();
    const servers = [first.server];
    const listener = new Listener('pipe', path, { random: this.#random, ...options }, async () => {
      this.#restorers.delete(path);
      await Promise.all(servers.map(closeServer));
      if (!isWindows) await unlink(path).catch(() => {});
    });
    first.accepting.start(listener);
    if (!isWindows) {
      this.#restorers.set(path, async () => {
        const present = await lstat(path).then(
          () => true,
          () => false,
        );
        if (present) return false;
        if (!isAbsolute(requested)) await ensurePrivateDirectory(this.directory);
        const again = await bind();
        // The old server keeps its connections; it is closed with the listener.
        servers.push(again.server);
        again.accepting.start(listener);
        return true;
      });
    }
    return listener;
  }

  /**
   * Puts back the socket file of an open listener of this transport when something removed it
   * (a temp cleaner, `rm -rf` of the directory): the directory is made again and a new socket
   * bound at the same path, feeding the same listener. Resolves whether it had to.
   */
  async restore(address: string): Promise<boolean> {
    const restorer = this.#restorers.get(address);
    return restorer ? restorer() : false;
  }

  connect(address: string, options: ConnectOptions = {}): Promise<Link> {
    const path = isWindows || isAbsolute(address) ? address : this.pathFor(address);
    return connectSocket(
      path,
      { random: this.#random, ...options },
      () => netConnect({ path, allowHalfOpen: true }),
      'connect',
    );
  }
}

/**
 * A socket file left by a process that died is removed; one with a live listener behind it is
 * not (that is `AddressInUseError`), and neither is anything that is not a socket.
 */
async function removeStaleSocket(path: string): Promise<boolean> {
  let stats: Awaited<ReturnType<typeof lstat>>;
  try {
    stats = await lstat(path);
  } catch {
    return false;
  }
  if (!stats.isSocket()) throw new ListenError(`${path} exists and is not a socket; not touching it`);
  const alive = await new Promise<boolean>((resolve) => {
    const probe = netConnect({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) throw new AddressInUseError(path);
  return unlink(path).then(
    () => true,
    () => false,
  );
}
