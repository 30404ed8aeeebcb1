import type { ByteChannel } from './channel.js';
import { type Clock, systemClock, type TimerId } from './clock.js';
import {
  type AdmissionError,
  AdmissionTimeoutError,
  InvalidOptionError,
  PendingBytesError,
  reportUnhandledError,
  TooManyPendingError,
} from './errors.js';
import { Link, type LinkOptions } from './link.js';
import { SafeEmitter } from './safe-emitter.js';

export type TransportKind = 'memory' | 'pipe' | 'tcp' | 'port';

export interface ListenOptions extends LinkOptions {
  /**
   * Where to listen. memory: a name; pipe: a socket path or a bare name placed in the per-user
   * directory; tcp: `tcp://host:port` (port 0 picks a free one). Each transport has a default.
   */
  address?: string;
  /** Limits on connections not yet admitted: see `AdmissionOptions` for what they are and their defaults. */
  admission?: AdmissionOptions;
}

/**
 * A connection is pending from the moment it is accepted until it is admitted: when its handshake
 * succeeds, or with `manual`, when its owner calls `listener.admit(link)`. Pending connections
 * are what a stranger can hold without being let in, so they are bounded in time, number and
 * bytes; a connection closed for going over a bound is reported as `rejected` with an
 * `AdmissionError` naming it, and the listener carries on.
 */
export interface AdmissionOptions {
  /**
   * The owner admits each link itself, with `listener.admit(link)` (a node admits the connection
   * that presents itself as its host). Default false: a link is admitted when its handshake succeeds.
   */
  manual?: boolean;
  /**
   * With `manual`: how long a link may wait after its handshake to be admitted before it is
   * closed (`AdmissionTimeoutError`). Default 10 s. The handshake itself has `handshakeTimeoutMs`.
   */
  timeoutMs?: number;
  /**
   * Connections pending at once, at most. One more arriving closes the oldest pending one
   * (`TooManyPendingError`): a stranger who holds connections open loses them to newcomers rather
   * than locking a real host out, who presents itself within milliseconds. Default 64.
   */
  maxPending?: number;
  /**
   * Bytes received and held (not yet a whole frame or handshake step) across pending connections,
   * at most. Over it, the pending connection holding the most is closed (`PendingBytesError`), until
   * the rest fit: a real host holds almost nothing before it is admitted. Default 1 MiB.
   */
  maxPendingBytes?: number;
}

const DEFAULT_ADMISSION_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_PENDING = 64;
const DEFAULT_MAX_PENDING_BYTES = 1024 * 1024;

interface Admission {
  manual: boolean;
  timeoutMs: number;
  maxPending: number;
  maxPendingBytes: number;
}

function admissionOf(options: AdmissionOptions = {}): Admission {
  const positive = (name: keyof AdmissionOptions, fallback: number): number => {
    const value = options[name];
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0)
      throw new InvalidOptionError(`admission.${name}`, 'a positive integer', value);
    return value;
  };
  return {
    manual: options.manual === true,
    timeoutMs: positive('timeoutMs', DEFAULT_ADMISSION_TIMEOUT_MS),
    maxPending: positive('maxPending', DEFAULT_MAX_PENDING),
    maxPendingBytes: positive('maxPendingBytes', DEFAULT_MAX_PENDING_BYTES),
  };
}

/** A connection accepted and not yet admitted. */
interface Pending {
  readonly link: Link;
  /** What its link held when last measured, counted in the listener's total. */
  bytes: number;
  /** Its handshake succeeded and it was handed out (`link`); it waits for its owner to admit it. */
  handedOut: boolean;
  deadline: TimerId | undefined;
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
  /**
   * A connection failed the handshake or authentication, or was closed before it was admitted
   * (an `AdmissionError`); the listener keeps listening.
   */
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
export class Listener extends SafeEmitter<ListenerEvents> {
  readonly #stop: () => Promise<void>;
  readonly #options: ListenOptions;
  readonly #admission: Admission;
  readonly #clock: Clock;
  /** Pending connections, oldest first (a Map keeps insertion order). */
  readonly #pending = new Map<Link, Pending>();
  #pendingBytes = 0;
  #closing: Promise<void> | undefined;

  constructor(
    readonly kind: TransportKind,
    readonly address: string,
    options: ListenOptions,
    stop: () => Promise<void>,
  ) {
    super();
    try {
      this.#admission = admissionOf(options.admission);
    } catch (error) {
      // The transport is already listening: it must not stay so behind a listener never returned.
      void stop();
      throw error;
    }
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#stop = stop;
  }

  /** Connections accepted and not yet admitted. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Bytes held across pending connections, as last measured. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** Called by a transport for each accepted channel. */
  accept(channel: ByteChannel): void {
    if (this.#closing) {
      channel.destroy();
      return;
    }
    if (this.#pending.size >= this.#admission.maxPending) {
      const oldest = this.#pending.values().next().value as Pending;
      this.#refuse(oldest, new TooManyPendingError(oldest.link.peer, this.#admission.maxPending));
    }
    let entry: Pending | undefined;
    // Bytes are measured as they arrive, after the link took them: what it holds, not what passed.
    const gated: ByteChannel = {
      peer: channel.peer,
      attach: (sink) =>
        channel.attach({
          data: (chunk) => {
            sink.data(chunk);
            if (entry) this.#measure(entry);
          },
          drain: () => sink.drain(),
          end: () => sink.end(),
          close: (error) => sink.close(error),
        }),
      write: (chunk, done) => channel.write(chunk, done),
      flush: () => channel.flush?.(),
      end: () => channel.end(),
      destroy: (error) => channel.destroy(error),
      pause: () => channel.pause(),
      resume: () => channel.resume(),
    };
    let link: Link;
    try {
      link = new Link(gated, 'listener', this.#options);
    } catch (error) {
      channel.destroy();
      reportUnhandledError(error);
      return;
    }
    const pending: Pending = { link, bytes: 0, handedOut: false, deadline: undefined };
    entry = pending;
    this.#pending.set(link, pending);
    void link.closed.then(() => {
      this.#forget(pending);
      entry = undefined;
    });
    link.opened.then(
      () => {
        if (this.#admission.manual && this.#pending.get(link) === pending) {
          pending.handedOut = true;
          pending.deadline = this.#clock.setTimeout(
            () => this.#refuse(pending, new AdmissionTimeoutError(link.peer, this.#admission.timeoutMs)),
            this.#admission.timeoutMs,
          );
        } else {
          this.#forget(pending);
          entry = undefined;
        }
        this.emitSafely('link', link);
      },
      (error: Error) => this.emitSafely('rejected', error, channel.peer),
    );
  }

  /**
   * Lets a link in (with `admission.manual`): it no longer counts against the pending limits and
   * its admission deadline is off. A link that is not pending here is left alone.
   */
  admit(link: Link): void {
    const pending = this.#pending.get(link);
    if (pending) this.#forget(pending);
  }

  close(): Promise<void> {
    this.#closing ??= this.#stop().then(() => {
      this.emitSafely('close');
    });
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #measure(pending: Pending): void {
    if (this.#pending.get(pending.link) !== pending) return;
    const bytes = pending.link.readableLength;
    this.#pendingBytes += bytes - pending.bytes;
    pending.bytes = bytes;
    const limit = this.#admission.maxPendingBytes;
    while (this.#pendingBytes > limit) {
      let largest: Pending | undefined;
      for (const candidate of this.#pending.values()) {
        if (!largest || candidate.bytes > largest.bytes) largest = candidate;
      }
      if (!largest) break;
      this.#refuse(
        largest,
        new PendingBytesError(largest.link.peer, largest.bytes, this.#pendingBytes, limit),
      );
    }
  }

  #forget(pending: Pending): void {
    if (this.#pending.get(pending.link) !== pending) return;
    this.#pending.delete(pending.link);
    this.#pendingBytes -= pending.bytes;
    if (pending.deadline !== undefined) this.#clock.clearTimeout(pending.deadline);
  }

  /** Closes a pending connection over a bound; `rejected` says which and why. */
  #refuse(pending: Pending, error: AdmissionError): void {
    this.#forget(pending);
    void pending.link.destroy(error);
    // A link still handshaking reports through its failed `opened`; one handed out, here.
    if (pending.handedOut) this.emitSafely('rejected', error, pending.link.peer);
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
