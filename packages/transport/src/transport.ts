import { EventEmitter } from 'eventemitter3';
import type { ByteChannel } from './channel.js';
import { reportUnhandledError } from './errors.js';
import { Link, type LinkOptions } from './link.js';

export type TransportKind = 'memory' | 'pipe' | 'tcp' | 'port';

export interface ListenOptions extends LinkOptions {
  /**
   * Where to listen. memory: a name; pipe: a socket path or a bare name placed in the per-user
   * directory; tcp: `tcp://host:port` (port 0 picks a free one). Each transport has a default.
   */
  address?: string;
}

export interface ConnectOptions extends LinkOptions {
  /** Give up connecting (not the handshake, which has its own timeout) after this long. Default 5 s. */
  connectTimeoutMs?: number;
  signal?: AbortSignal;
  /** Called with the link as soon as it exists, while its handshake is still running. */
  onLink?: (link: Link) => void;
}

export interface ListenerEvents {
  /** A connection completed the handshake. */
  link: [link: Link];
  /** A connection failed the handshake or authentication; the listener keeps listening. */
  rejected: [error: Error, peer: string];
  close: [];
}

/** One interface over every kind of link: listen for links, connect to a listener. */
export interface Transport {
  readonly kind: TransportKind;
  listen(options?: ListenOptions): Promise<Listener>;
  /** Resolves with an open link (handshake done), or rejects with a `ConnectError` or a `HandshakeError`. */
  connect(address: string, options?: ConnectOptions): Promise<Link>;
}

/**
 * A listening endpoint. Every accepted connection becomes a link that must pass the handshake
 * before `link` is emitted; a stranger that fails it only produces `rejected`.
 * `close()` stops accepting; links already handed out stay open until their owners close them.
 */
export class Listener extends EventEmitter<ListenerEvents> {
  readonly #stop: () => Promise<void>;
  readonly #options: LinkOptions;
  #closing: Promise<void> | undefined;

  constructor(
    readonly kind: TransportKind,
    readonly address: string,
    options: LinkOptions,
    stop: () => Promise<void>,
  ) {
    super();
    this.#options = options;
    this.#stop = stop;
  }

  /** Called by a transport for each accepted channel. */
  accept(channel: ByteChannel): void {
    if (this.#closing) {
      channel.destroy();
      return;
    }
    let link: Link;
    try {
      link = new Link(channel, 'listener', this.#options);
    } catch (error) {
      channel.destroy();
      reportUnhandledError(error);
      return;
    }
    link.opened.then(
      () => this.#emit('link', link),
      (error: Error) => this.#emit('rejected', error, channel.peer),
    );
  }

  close(): Promise<void> {
    this.#closing ??= this.#stop().then(() => {
      this.#emit('close');
    });
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #emit<E extends keyof ListenerEvents>(event: E, ...args: ListenerEvents[E]): void {
    try {
      (this.emit as (e: E, ...a: ListenerEvents[E]) => boolean)(event, ...args);
    } catch (error) {
      reportUnhandledError(error);
    }
  }
}

/** Connects a channel as the connecting side and waits for the handshake. */
export async function openLink(channel: ByteChannel, options: ConnectOptions): Promise<Link> {
  const link = new Link(channel, 'connector', options);
  options.onLink?.(link);
  try {
    await link.opened;
  } catch (error) {
    await link.closed;
    throw error;
  }
  return link;
}
