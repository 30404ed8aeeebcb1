// A node in another network namespace, reached over its veth link only: whoever does not know the
// secret, speaks plain TCP to a TLS node, or sends garbage is refused with a clear reason, and the
// node goes on serving the host that does it right.
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNamespace, type NetworkNamespace, removeNamespaces } from '@troupe/testing/internal';
import { TcpTransport } from '@troupe/transport';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectedPayload, payload, slowDouble } from './fixtures/tasks.mjs';
import { Cleanups, connectHost, nodeHasOption, noNetns, startNode, until } from './support/lab.js';

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

const tlsFlags = nodeHasOption('--tls-cert');

describe.skipIf(noNetns)(
  `a TCP node across a namespace link${noNetns ? ` (skipped: ${noNetns})` : ''}`,
  () => {
    let namespace: NetworkNamespace;
    beforeAll(async () => {
      namespace = await createNamespace();
    });
    afterAll(() => removeNamespaces());

    /** Raw bytes to the node; resolves with what it answered once it closed the connection. */
    function stranger(address: string, bytes: Buffer): Promise<Buffer> {
      const { hostname, port } = new URL(address.replace('tcp://', 'http://'));
      return new Promise((resolve, reject) => {
        const socket = netConnect({ host: hostname, port: Number(port) });
        const answer: Buffer[] = [];
        socket.on('data', (chunk) => answer.push(chunk));
        socket.on('error', reject);
        socket.on('close', () => resolve(Buffer.concat(answer)));
        socket.on('connect', () => socket.write(bytes));
      });
    }

    it('refuses a wrong secret, no secret, garbage and a TLS hello, each saying why; then serves the right host', async () => {
      const node = await startNode(
        namespace,
        ['--secret-env', 'NODE_SECRET', '--idle-timeout', '60000'],
        cleanups,
        {
          env: { NODE_SECRET: 'correct horse' },
        },
      );
      expect(node.address).toMatch(new RegExp(`^tcp://${namespace.address.replaceAll('.', '\\.')}:\\d+$`));
      const refused = () =>
        node
          .stderr()
          .split('\n')
          .filter((line) => line.includes('refused a connection from'));
      const from = namespace.hostAddress.replaceAll('.', '\\.');

      await expect(
        new TcpTransport().connect(node.address, { handshake: {}, secret: 'battery staple' }),
      ).rejects.toMatchObject({ code: 'TROUPE_AUTH_FAILED' });
      await expect(new TcpTransport().connect(node.address, { handshake: {} })).rejects.toThrow(
        /handshake mismatch in flags: expected \[none\], peer sent \[authenticated\]/,
      );
      // A stranger's bytes: the node answers with its own handshake block (it speaks first, as a
      // version check needs) and hangs up on the bad magic.
      const http = await stranger(
        node.address,
        Buffer.from('GET / HTTP/1.1\r\nHost: build-01\r\nAccept: */*\r\n\r\n'),
      );
      expect(http.subarray(0, 4).toString('latin1')).toBe('TRPE');
      const random = Buffer.alloc(4096);
      for (let i = 0; i < random.length; i++) random[i] = (i * 7919 + 13) & 255;
      await stranger(node.address, random);
      // A TLS client meets a plain node: its hello is refused as garbage, the client hears a protocol error.
      const { connect: tlsConnect } = await import('node:tls');
      const tlsError = await new Promise<Error>((resolve) => {
        const { hostname, port } = new URL(node.address.replace('tcp://', 'http://'));
        const socket = tlsConnect({ host: hostname, port: Number(port), rejectUnauthorized: false });
        socket.on('error', resolve);
        socket.on('secureConnect', () => resolve(new Error('TLS handshake succeeded with a plain node')));
      });
      expect(tlsError.message).toMatch(/wrong version number|ECONNRESET|socket disconnected/i);

      await until(() => refused().length === 5, 'five refusals in the node log');
      expect(refused()[0]).toMatch(
        new RegExp(
          `refused a connection from ${from}:\\d+: the connector could not prove it knows the shared secret`,
        ),
      );
      expect(refused()[1]).toMatch(
        /handshake mismatch in flags: expected \[authenticated\], peer sent \[none\]/,
      );
      expect(refused()[2]).toMatch(/handshake mismatch in magic: expected "TRPE", peer sent "GET "/);
      expect(refused()[3]).toMatch(/handshake mismatch in magic: expected "TRPE", peer sent /);
      expect(refused()[4]).toMatch(/handshake mismatch in magic: expected "TRPE", peer sent "\\u0016\\u0003/);

      // Still there, and serving the host that knows the secret: values, not only an answer.
      const host = await connectHost(node.address, { handshake: {}, secret: 'correct horse' }, cleanups);
      expect(await host.request(slowDouble.id, { value: 21, ms: 1 })).toEqual({ value: 42, pid: node.pid });
      expect(await host.request(payload.id, { seed: 7, bytes: 300_000 })).toBe(expectedPayload(7, 300_000));
    });

    describe.skipIf(!tlsFlags)('with TLS (--tls-cert, --tls-key, --tls-ca)', () => {
      let directory: string;
      beforeAll(async () => {
        directory = await mkdtemp(join(tmpdir(), 'troupe-tls-'));
        certificates(directory, namespace.address);
      });
      afterAll(() => rm(directory, { recursive: true, force: true }));
      const pem = (name: string) => readFile(join(directory, name), 'utf8');

      it('refuses a plain client and a client without a certificate; serves one the CA signed', async () => {
        const node = await startNode(
          namespace,
          [
            ...['--tls-cert', join(directory, 'node.crt'), '--tls-key', join(directory, 'node.key')],
            ...['--tls-ca', join(directory, 'ca.crt'), '--idle-timeout', '60000'],
          ],
          cleanups,
        );
        await expect(new TcpTransport().connect(node.address, { handshake: {} })).rejects.toThrow();
        const ca = await pem('ca.crt');
        await expect(
          new TcpTransport().connect(node.address, { handshake: {}, tls: { ca } }),
        ).rejects.toThrow();
        const host = await connectHost(
          node.address,
          { handshake: {}, tls: { ca, cert: await pem('client.crt'), key: await pem('client.key') } },
          cleanups,
        );
        expect(await host.request(slowDouble.id, { value: 5, ms: 1 })).toEqual({ value: 10, pid: node.pid });
        expect(await host.request(payload.id, { seed: 3, bytes: 100_000 })).toBe(expectedPayload(3, 100_000));
      });
    });
  },
);

/** A throwaway CA, a node certificate for `address` (an IP SAN) and a client certificate, by openssl. */
function certificates(directory: string, address: string): void {
  const openssl = (args: string[]) => execFileSync('openssl', args, { cwd: directory, stdio: 'pipe' });
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl([
    'req',
    '-x509',
    ...key,
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-subj',
    '/CN=troupe test CA',
    '-days',
    '1',
  ]);
  for (const [name, extension] of [
    ['node', `subjectAltName=IP:${address}`],
    ['client', 'extendedKeyUsage=clientAuth'],
  ] as const) {
    openssl([
      'req',
      ...key,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=troupe test ${name}`,
    ]);
    execFileSync('sh', ['-c', `printf '%s\\n' '${extension}' > ${name}.ext`], { cwd: directory });
    openssl([
      ...['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial'],
      ...['-out', `${name}.crt`, '-days', '1', '-extfile', `${name}.ext`],
    ]);
  }
}
