// The real TCP transport (node:net, node:tls): one of the modules where transport touches real
// sockets. The simulator replaces it with its own Transport.
import { createServer as createNetServer, isIP, connect as netConnect, type Server } from 'node:net';
import type { ConnectionOptions, TlsOptions } from 'node:tls';
import { InsecureListenError, InvalidOptionError } from '../errors.js';
import { type HandshakeOptions, networkSalt } from '../handshake.js';
import type { Link } from '../link.js';
import { type RandomSource, systemRandom } from '../random.js';
import { type ConnectOptions, Listener, type ListenOptions, type Transport } from '../transport.js';
import { acceptSockets, closeServer, connectSocket, listening } from './socket.js';

export interface TcpListenOptions extends ListenOptions {
  /** Wrap accepted sockets in TLS with these server options (key, cert, ca, requestCert...). */
  tls?: TlsOptions;
  /**
   * Listen with neither a `secret` nor TLS client certificates, so that anyone who can reach the
   * port can connect (on loopback: every local user). Without one of the three, `listen` refuses
   * with `InsecureListenError`.
   */
  insecure?: boolean;
}

/** Whether a connection must prove who it is: a shared secret, or a client certificate TLS checks. */
function authenticates(options: TcpListenOptions): boolean {
  if (options.secret !== undefined && options.secret.length > 0) return true;
  return options.tls?.requestCert === true && options.tls.rejectUnauthorized !== false;
}

export interface TcpConnectOptions extends ConnectOptions {
  /** Connect over TLS with these options (ca, servername, cert/key for client auth...). */
  tls?: ConnectionOptions;
}

export function parseTcpAddress(address: string): { host: string; port: number } {
  const match = /^(?:tcp:\/\/)?(\[[^\]]+\]|[^:/]+):(\d+)$/.exec(address);
  const port = match ? Number(match[2]) : Number.NaN;
  if (!match || port > 65535) throw new InvalidOptionError('address', 'tcp://host:port', address);
  const host = match[1]!.startsWith('[') ? match[1]!.slice(1, -1) : match[1]!;
  return { host, port };
}

function formatTcpAddress(host: string, port: number): string {
  return host.includes(':') ? `tcp://[${host}]:${port}` : `tcp://${host}:${port}`;
}

/**
 * TCP, for nodes on other machines. Listening needs a shared `secret` (mutual challenge/HMAC
 * authentication) or TLS client certificates, unless `insecure: true` says otherwise; across
 * untrusted networks, add `tls`.
 */
export class TcpTransport implements Transport {
  readonly kind = 'tcp' as const;
  readonly #random: RandomSource;

  constructor(options: { random?: RandomSource } = {}) {
    this.#random = options.random ?? systemRandom;
  }

  async listen(options: TcpListenOptions = {}): Promise<Listener> {
    const { host, port } = parseTcpAddress(options.address ?? 'tcp://127.0.0.1:0');
    if (!authenticates(options) && options.insecure !== true) {
      throw new InsecureListenError(formatTcpAddress(host, port));
    }
    // node:tls is loaded only when TLS is asked for: a node process should not pay for it.
    const server: Server = options.tls
      ? (await import('node:tls')).createServer({ ...options.tls, allowHalfOpen: true })
      : createNetServer({ allowHalfOpen: true });
    const accepting = acceptSockets(server, options.tls ? 'secureConnection' : 'connection');
    await listening(server, () => server.listen(port, host), formatTcpAddress(host, port));
    const bound = server.address();
    const address =
      bound && typeof bound === 'object'
        ? formatTcpAddress(bound.address, bound.port)
        : formatTcpAddress(host, port);
    const listener = new Listener(
      'tcp',
      address,
      { random: this.#random, ...options, handshake: onNetwork(options.handshake) },
      () => closeServer(server),
    );
    accepting.start(listener);
    return listener;
  }

  async connect(address: string, options: TcpConnectOptions = {}): Promise<Link> {
    const { host, port } = parseTcpAddress(address);
    const tls = options.tls;
    const tlsConnect = tls ? (await import('node:tls')).connect : undefined;
    return connectSocket(
      formatTcpAddress(host, port),
      { random: this.#random, ...options, handshake: onNetwork(options.handshake) },
      () =>
        tls && tlsConnect
          ? tlsConnect({
              // SNI names a host, never an address (RFC 6066): a certificate for an IP is checked
              // against its IP SAN without one.
              ...(isIP(host) === 0
                ? { servername: host }
                : (host === '127.0.0.1' || host === '::1') && { servername: 'localhost' }),
              ...tls,
              host,
              port,
            })
          : netConnect({ host, port, allowHalfOpen: true }),
      tls ? 'secureConnect' : 'connect',
    );
  }
}

/** A handshake over TCP: the network salt unless one was given (`networkSalt`). */
function onNetwork(handshake: HandshakeOptions | undefined): HandshakeOptions {
  return { ...handshake, salt: handshake?.salt ?? networkSalt(handshake?.session) };
}
