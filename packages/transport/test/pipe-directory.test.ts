// The pipe transport's directory on a machine that has none yet, one that cannot be made safe, and
// one removed while a listener is open.
import { lstat, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Link, type Listener, PipeTransport, UnsafeDirectoryError } from '@troupe/transport';
import { afterEach, describe, expect, it } from 'vitest';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempDir(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'troupe-pipe-dir-'));
  cleanups.push(() => rm(directory, { recursive: true, force: true }));
  return directory;
}

/** Connects and sends one packet; resolves with what the listener received. */
async function roundTrip(transport: PipeTransport, listener: Listener, value: string): Promise<unknown> {
  const received = new Promise<unknown>((resolve) => {
    listener.once('link', (link: Link) => {
      cleanups.push(() => link.close());
      link.on('packet', (_type, body) => resolve(body));
    });
  });
  const client = await transport.connect(listener.address);
  cleanups.push(() => client.close());
  client.send(1, value);
  return received;
}

describe('pipe transport: its directory', () => {
  it('is made again, with the socket, when something removes it while a listener is open', async () => {
    const directory = join(await tempDir(), 'troupe-1000');
    const transport = new PipeTransport({ directory });
    const listener = await transport.listen({ address: 'node-a' });
    cleanups.push(() => listener.close());
    await expect(transport.restore(listener.address)).resolves.toBe(false);
    expect(await roundTrip(transport, listener, 'before')).toBe('before');

    await rm(directory, { recursive: true, force: true });
    await expect(transport.restore(listener.address)).resolves.toBe(true);
    expect((await stat(directory)).mode & 0o777).toBe(0o700);
    expect((await stat(listener.address)).mode & 0o777).toBe(0o600);
    // The same listener takes connections on the new socket.
    expect(await roundTrip(transport, listener, 'after')).toBe('after');

    await listener.close();
    await expect(lstat(listener.address)).rejects.toThrow(/ENOENT/);
    await expect(transport.restore(listener.address)).resolves.toBe(false);
  });

  it('that cannot be created is a typed error naming it', async () => {
    const parent = join(await tempDir(), 'a-file');
    await writeFile(parent, 'not a directory');
    const directory = join(parent, 'sockets');
    const error = await new PipeTransport({ directory }).listen().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnsafeDirectoryError);
    expect((error as UnsafeDirectoryError).directory).toBe(directory);
    expect((error as Error).message).toContain(
      `refusing to use ${directory} for sockets: it cannot be created`,
    );
  });
});
