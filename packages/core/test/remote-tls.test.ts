// A static endpoint serving TLS with client certificates (mutual TLS), on loopback, with a CA the
// test makes with openssl: the host that shows a certificate the CA signed is served; a plain-text
// host and one without a client certificate are refused, logged, and the node keeps serving.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RemoteNodeError, RemoteNodeProvider } from '@troupe/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor, waitUntilGone } from './support/processes.js';

const tasks = new URL('./fixtures/remote-tasks.mjs', import.meta.url).href;
const bin = fileURLToPath(new URL('../bin/troupe.js', import.meta.url));

let directory: string;
let node: ChildProcess;
let stderr = '';
let address: string;
const file = (name: string) => join(directory, name);

/** A key and a certificate for `name`, signed by the test's CA. */
async function issue(name: string, subjectAltName: string): Promise<void> {
  execFileSync(
    'openssl',
    [
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      file(`${name}.key`),
      '-out',
      file(`${name}.csr`),
      '-subj',
      `/CN=${name}`,
    ],
    { stdio: 'ignore' },
  );
  await writeFile(file(`${name}.ext`), `subjectAltName=${subjectAltName}\n`);
  execFileSync(
    'openssl',
    [
      'x509',
      '-req',
      '-in',
      file(`${name}.csr`),
      '-CA',
      file('ca.crt'),
      '-CAkey',
      file('ca.key'),
      '-CAcreateserial',
      '-out',
      file(`${name}.crt`),
      '-days',
      '1',
      '-extfile',
      file(`${name}.ext`),
    ],
    { stdio: 'ignore' },
  );
}

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'troupe-tls-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      file('ca.key'),
      '-out',
      file('ca.crt'),
      '-subj',
      '/CN=troupe test CA',
      '-days',
      '1',
    ],
    { stdio: 'ignore' },
  );
  await issue('node', 'DNS:localhost,IP:127.0.0.1');
  await issue('host', 'DNS:host');
  node = spawn(
    process.execPath,
    [
      bin,
      'node',
      '--listen',
      'tcp://127.0.0.1:0',
      '--reuse',
      '--idle-timeout',
      '60000',
      '--tls-cert',
      file('node.crt'),
      '--tls-key',
      file('node.key'),
      '--tls-ca',
      file('ca.crt'),
    ],
    { env: { ...process.env, TROUPE_SOCKET_DIR: directory }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  node.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  address = await new Promise<string>((resolve, reject) => {
    let stdout = '';
    node.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes('\n')) resolve((JSON.parse(stdout.split('\n')[0]!) as { address: string }).address);
    });
    node.once('close', (code) => reject(new Error(`node ended (${code}) before listening:\n${stderr}`)));
  });
});

afterAll(async () => {
  if (node?.pid && node.exitCode === null) {
    node.kill('SIGKILL');
    await waitUntilGone(node.pid);
  }
  await rm(directory, { recursive: true, force: true });
});

describe('a static endpoint over mutual TLS', () => {
  it('serves a host whose certificate the CA signed, with no secret needed', async () => {
    const provider = new RemoteNodeProvider({
      endpoints: [address],
      tls: { ca: file('ca.crt'), cert: file('host.crt'), key: file('host.key') },
    });
    const [remote] = await provider.acquire(1);
    expect(await remote!.request(`${tasks}#square`, 12)).toEqual({ value: 144, pid: node.pid });
    await provider.shutdown();
    expect(stderr).not.toMatch(/WARNING/);
  });

  it('refuses a plain-text host and one without a client certificate, and keeps serving', async () => {
    const plain = new RemoteNodeProvider({ endpoints: [address], insecure: true, connectTimeoutMs: 3_000 });
    const refusedPlain = await plain.acquire(1).catch((error: unknown) => error);
    expect(refusedPlain).toBeInstanceOf(RemoteNodeError);
    expect((refusedPlain as Error).message).toContain(`(${address})`);
    const anonymous = new RemoteNodeProvider({
      endpoints: [address],
      tls: { ca: file('ca.crt') },
      insecure: true,
    });
    await expect(anonymous.acquire(1)).rejects.toThrow(RemoteNodeError);
    expect(await waitFor(() => (stderr.match(/refused a connection/g)?.length ?? 0) >= 2)).toBe(true);
    const provider = new RemoteNodeProvider({
      endpoints: [address],
      tls: { ca: file('ca.crt'), cert: file('host.crt'), key: file('host.key') },
    });
    const [remote] = await provider.acquire(1);
    expect(await remote!.request(`${tasks}#square`, 3)).toEqual({ value: 9, pid: node.pid });
    await provider.shutdown();
  });
});
