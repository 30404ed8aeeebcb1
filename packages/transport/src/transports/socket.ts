import type { Server, Socket } from 'node:net';
import { socketChannel } from '../channel.js';
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import { ConnectError, ListenError } from '../errors.js';
import type { Link } from '../link.js';
import { type ConnectOptions, type Listener, openLink } from '../transport.js';

/**
 * Takes the server's connections from before it listens, holding any that arrive until the
 * listener exists: between `listen` and the listener being ready there can be awaits (the pipe
 * transport's chmod), and a connection accepted with nobody to handle it would sit there until
 * its peer's handshake timed out.
 */
export function acceptSockets(
  server: Server,
  event: 'connection' | 'secureConnection',
): { start(listener: Listener): void } {
  const pending: Socket[] = [];
  let target: Listener | undefined;
  const hand = (listener: Listener, socket: Socket) => {
    socket.setNoDelay?.(true);
    const peer = socket.remoteAddress
      ? `${socket.remoteAddress}:${socket.remotePort}`
      : `${listener.address} (peer)`;
    listener.accept(socketChannel(socket, peer));
  };
  server.on(event, (socket: Socket) => {
    if (target) hand(target, socket);
    else pending.push(socket);
  });
  return {
    start(listener) {
      target = listener;
      for (const socket of pending.splice(0)) hand(listener, socket);
      // A TLS handshake that fails never becomes a connection; with allowHalfOpen nobody would end it.
      server.on('tlsClientError', (error: Error, socket: Socket) => {
        socket.destroy();
        listener.emit(
          'rejected',
          error,
          socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : listener.address,
        );
      });
      // Errors on the listening socket itself after it started are reported through the listener.
      server.on('error', (error) => listener.emit('rejected', error, listener.address));
    },
  };
}

export function listening(server: Server, listen: () => void, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      reject(
        new ListenError(`cannot listen on ${address}: ${error.code ?? error.message}`, { cause: error }),
      );
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    listen();
  });
}

/**
 * Stops accepting. Links already accepted are their owners' to close, so this does not wait for
 * them (net.Server's own close callback would, and hang a listener's close on a live link).
 */
export function closeServer(server: Server): Promise<void> {
  server.close();
  return Promise.resolve();
}

/**
 * Connects a socket under a timeout and an optional abort signal, then runs the handshake.
 * `start` creates the socket and begins connecting; `connectedEvent` is when it is usable.
 */
export async function connectSocket(
  address: string,
  options: ConnectOptions,
  start: () => Socket,
  connectedEvent: 'connect' | 'secureConnect',
): Promise<Link> {
  options.signal?.throwIfAborted();
  const clock: Clock = options.clock ?? systemClock;
  const timeoutMs = options.connectTimeoutMs ?? 5_000;
  const socket = await new Promise<Socket>((resolve, reject) => {
    const socket = start();
    const finish = (error?: Error) => {
      clock.clearTimeout(timer);
      socket.off(connectedEvent, onConnect);
      socket.off('error', onError);
      options.signal?.removeEventListener('abort', onAbort);
      if (error) {
        socket.destroy();
        reject(error);
      } else resolve(socket);
    };
    const onConnect = () => finish();
    const onError = (error: NodeJS.ErrnoException) =>
      finish(
        new ConnectError(address, error.code ? `${error.code} (${error.message})` : error.message, {
          cause: error,
        }),
      );
    const onAbort = () => finish(options.signal?.reason as Error);
    const timer = clock.setTimeout(
      () => finish(new ConnectError(address, `timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.once(connectedEvent, onConnect);
    socket.once('error', onError);
    options.signal?.addEventListener('abort', onAbort, { once: true });
  });
  socket.setNoDelay?.(true);
  return openLink(socketChannel(socket, address), options);
}
