import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AddressInUseError,
  AuthenticationError,
  HandshakeMismatchError,
  InsecureListenError,
  type Link,
  ListenError,
  PipeTransport,
  TcpTransport,
} from '@troupe/transport';
import { afterEach, describe, expect, it } from 'vitest';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempDir(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'troupe-s-'));
  cleanups.push(() => rm(directory, { recursive: true, force: true }));
  return directory;
}

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));
const cert = fixture('localhost-cert.pem');
const key = fixture('localhost-key.pem');

async function echoOver(link: Link, server: Promise<Link>): Promise<unknown> {
  const peer = await server;
  cleanups.push(() => peer.destroy());
  peer.on('packet', (type, body) => peer.send(type, body));
  const reply = new Promise((resolve) => link.once('packet', (_type, body) => resolve(body)));
  link.send(1, 'hello');
  return reply;
}

/** A process killed while listening leaves its socket file behind: make one at `path`. */
async function leaveStaleSocket(path: string): Promise<void> {
  const child = spawn(process.execPath, [
    '-e',
    `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`,
  ]);
  cleanups.push(() => child.kill('SIGKILL'));
  await new Promise((resolve) => child.stdout.once('data', resolve));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

describe('tcp authentication and TLS', () => {
  const tcp = new TcpTransport();

  it('a TCP listener with no way to tell who connects refuses to listen, unless told insecure', async () => {
    // A port nobody holds: the refusal must come before anything is bound to it.
    const probe = await tcp.listen({ insecure: true });
    const address = probe.address;
    await probe.close();

    const error = await tcp.listen({ address }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InsecureListenError);
    expect(error).toBeInstanceOf(ListenError);
    expect((error as InsecureListenError).code).toBe('TROUPE_INSECURE_LISTEN');
    expect((error as Error).message).toMatch(new RegExp(`refusing to listen on ${address} without a secret`));
    // TLS alone proves the server to its clients, not the clients to it.
    await expect(tcp.listen({ address, tls: { key, cert } })).rejects.toBeInstanceOf(InsecureListenError);
    await expect(
      tcp.listen({ address, tls: { key, cert, requestCert: true, rejectUnauthorized: false } }),
    ).rejects.toBeInstanceOf(InsecureListenError);
    await expect(tcp.listen({ address, secret: '' })).rejects.toBeInstanceOf(InsecureListenError);

    // Client certificates checked by TLS are a way to tell, and so is saying so out loud.
    const checked = await tcp.listen({ address, tls: { key, cert, ca: cert, requestCert: true } });
    await checked.close();
    const insecure = await tcp.listen({ address, insecure: true });
    cleanups.push(() => insecure.close());
    expect(insecure.address).toBe(address);
    const accepted = new Promise<Link>((resolve) => insecure.once('link', resolve));
    const link = await tcp.connect(insecure.address);
    cleanups.push(() => link.destroy());
    expect(await echoOver(link, accepted)).toBe('hello');
  });

  it('both sides with the same secret: the link opens and carries packets', async () => {
    const listener = await tcp.listen({ secret: 'correct horse' });
    cleanups.push(() => listener.close());
    const accepted = new Promise<Link>((resolve) => listener.once('link', resolve));
    const link = await tcp.connect(listener.address, { secret: 'correct horse' });
    cleanups.push(() => link.destroy());
    expect(await echoOver(link, accepted)).toBe('hello');
  });

  it('a wrong secret fails on both sides with AuthenticationError', async () => {
    const listener = await tcp.listen({ secret: 'correct horse' });
    cleanups.push(() => listener.close());
    const rejected = new Promise<Error>((resolve) => listener.once('rejected', resolve));
    const error = await tcp.connect(listener.address, { secret: 'battery staple' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthenticationError);
    expect(await rejected).toBeInstanceOf(AuthenticationError);
    expect((error as Error).message).not.toContain('horse');
  });

  it('a secret on one side only is a handshake mismatch in the flags', async () => {
    const listener = await tcp.listen({ secret: 'correct horse' });
    cleanups.push(() => listener.close());
    const error = await tcp.connect(listener.address).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HandshakeMismatchError);
    expect((error as HandshakeMismatchError).component).toBe('flags');
    expect((error as Error).message).toMatch(/authenticated/);
  });

  it('TLS, with and without a shared secret on top', async () => {
    for (const secret of [undefined, 'correct horse']) {
      // TLS without client certificates proves the server to the client, not the client to it.
      const listener = await tcp.listen({
        tls: { key, cert },
        ...(secret ? { secret } : { insecure: true }),
      });
      cleanups.push(() => listener.close());
      const accepted = new Promise<Link>((resolve) => listener.once('link', resolve));
      const link = await tcp.connect(listener.address, { tls: { ca: cert }, ...(secret && { secret }) });
      cleanups.push(() => link.destroy());
      expect(await echoOver(link, accepted)).toBe('hello');
    }
  });

  it('TLS refuses a server whose certificate it does not trust', async () => {
    const listener = await tcp.listen({ tls: { key, cert }, insecure: true });
    cleanups.push(() => listener.close());
    await expect(tcp.connect(listener.address, { tls: {} })).rejects.toThrow(/self.signed|certificate/i);
  });
});

describe('pipe transport', () => {
  it('creates the per-user directory 0700 and the socket 0600, and removes the socket on close', async () => {
    const directory = join(await tempDir(), 'sockets');
    const pipe = new PipeTransport({ directory });
    const listener = await pipe.listen({ address: 'node-a' });
    expect((await stat(directory)).mode & 0o777).toBe(0o700);
    expect(listener.address).toBe(join(directory, 'node-a.sock'));
    expect((await stat(listener.address)).mode & 0o777).toBe(0o600);
    await listener.close();
    await expect(stat(listener.address)).rejects.toThrow(/ENOENT/);
  });

  it('closes a directory that others could enter', async () => {
    const directory = join(await tempDir(), 'open');
    await mkdir(directory, { mode: 0o755 });
    await chmod(directory, 0o755);
    const listener = await new PipeTransport({ directory }).listen();
    cleanups.push(() => listener.close());
    expect((await stat(directory)).mode & 0o777).toBe(0o700);
  });

  it('removes a stale socket left by a dead listener, but not a live one', async () => {
    const directory = await tempDir();
    const live = await new PipeTransport({ directory }).listen({ address: 'live' });
    cleanups.push(() => live.close());
    await expect(new PipeTransport({ directory }).listen({ address: 'live' })).rejects.toBeInstanceOf(
      AddressInUseError,
    );
    const path = join(directory, 'stale.sock');
    await leaveStaleSocket(path);
    expect((await lstat(path)).isSocket()).toBe(true);
    const transport = new PipeTransport({ directory });
    // removeStale, what a host uses after a node it killed: only the dead one goes.
    await expect(transport.removeStale('live')).resolves.toBe(false);
    await expect(transport.removeStale('nothing-here')).resolves.toBe(false);
    await expect(transport.removeStale('stale')).resolves.toBe(true);
    await expect(lstat(path)).rejects.toThrow(/ENOENT/);
    await expect(lstat(join(directory, 'live.sock'))).resolves.toBeDefined();
  });

  it('listens over a stale socket left by a dead listener', async () => {
    const directory = await tempDir();
    const path = join(directory, 'stale.sock');
    await leaveStaleSocket(path);
    const listener = await new PipeTransport({ directory }).listen({ address: 'stale' });
    cleanups.push(() => listener.close());
    expect(listener.address).toBe(path);
  });

  it('never deletes something that is not a socket', async () => {
    const directory = await tempDir();
    await writeFile(join(directory, 'precious.sock'), 'data');
    await expect(new PipeTransport({ directory }).listen({ address: 'precious' })).rejects.toBeInstanceOf(
      ListenError,
    );
    expect((await stat(join(directory, 'precious.sock'))).isFile()).toBe(true);
  });
});
