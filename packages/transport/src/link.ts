// Just over 400 lines, one concern: a link's life (handshake, framed sends through the writer
// queue, flush, reading, close), driven by its two machines; options, events and close info are
// in link-options.ts, framing in send-arena.ts and packet-reader.ts.
import { type Actor, createActor } from 'xstate';
import type { ByteChannel } from './channel.js';
import {
  ConnectionFailedError,
  InvalidOptionError,
  LinkClosedError,
  reportUnhandledError,
} from './errors.js';
import { exchangeHandshake, type Handshake, type Role } from './handshake.js';
import { InboundGate } from './inbound-gate.js';
import { machineInspector } from './inspect.js';
import {
  type LinkCloseInfo,
  type LinkEvents,
  type LinkOptions,
  type LinkState,
  linkSettings,
} from './link-options.js';
import { ListeningEmitter } from './listening-emitter.js';
import { bindLinkEffects, type LinkCloseReason, linkMachine } from './machines/link.machine.js';
import {
  bindWriterQueueEffects,
  type WriterQueueState,
  writerQueueMachine,
} from './machines/writer-queue.machine.js';
import { PacketReader } from './packet-reader.js';
import { systemRandom } from './random.js';
import { sendIfActive } from './safe-emitter.js';
import { SendArena } from './send-arena.js';

export type { LinkCloseInfo, LinkEvents, LinkOptions, LinkState } from './link-options.js';

/** What `send` schedules its flush on. */
const settled = Promise.resolve();

/**
 * One connection carrying packets. Created by a transport around a byte channel; it runs the
 * handshake at once and is usable (`opened`) when both ends agreed.
 *
 * Lifecycle lives in two machines: the link machine (handshaking → open → closing → closed) and
 * the writer queue machine. Nothing a peer sends can throw out of this class: bad bytes close
 * the link with a `ProtocolError`, and errors from user handlers go to `reportUnhandledError`.
 */
export class Link extends ListeningEmitter<LinkEvents> {
  readonly id: string;
  readonly peer: string;
  readonly role: Role;
  readonly handshake: Handshake;
  readonly maxFrameLength: number;
  readonly highWaterMark: number;
  readonly frameTimeoutMs: number;
  /** Resolves when the handshake succeeded; rejects with the reason it did not. */
  readonly opened: Promise<void>;
  /** Resolves once, when the link is closed, with why. Never rejects. */
  readonly closed: Promise<LinkCloseInfo>;

  readonly #channel: ByteChannel;
  readonly #reader: PacketReader;
  readonly #link: Actor<typeof linkMachine>;
  readonly #writer: Actor<typeof writerQueueMachine>;
  readonly #outbound: SendArena;
  #needDrain = false;
  #flushScheduled = false;
  readonly #scheduledFlush = () => {
    this.#flushScheduled = false;
    try {
      if (this.#writer.getSnapshot().value === 'flowing') this.#flush();
    } catch (error) {
      reportUnhandledError(error);
    }
  };
  /** Where inbound bytes go: the handshake's preamble, held packets, then frames. */
  readonly #inbound: InboundGate;
  #resolveOpened!: () => void;
  /** Until the link opens: how to fail `opened` (dropped once it opened, so a close after that
   * builds no error nobody will see). */
  #rejectOpened: ((error: Error) => void) | undefined;
  #resolveClosed!: (info: LinkCloseInfo) => void;

  constructor(channel: ByteChannel, role: Role, options: LinkOptions = {}) {
    super();
    const random = options.random ?? systemRandom;
    // Drawn before the options are checked, as it always was: a simulated world's draws keep their order.
    this.id = random.id(10);
    const settings = linkSettings(options);
    const clock = settings.clock;
    this.peer = channel.peer;
    this.role = role;
    this.#channel = channel;
    this.maxFrameLength = settings.maxFrameLength;
    this.#outbound = new SendArena(this.maxFrameLength);
    this.highWaterMark = settings.highWaterMark;
    this.frameTimeoutMs = settings.frameTimeoutMs;
    this.handshake = settings.handshake;
    this.#reader = new PacketReader(
      {
        isClosed: () => this.state === 'closed',
        packet: (type, body) => this.emitSafely('packet', type, body),
        violated: (error) => this.#toLink({ type: 'protocol.violated', error }),
      },
      settings,
    );
    this.#inbound = new InboundGate(channel, this.highWaterMark, (chunk) => this.#reader.push(chunk));
    this.opened = new Promise((resolve, reject) => {
      this.#resolveOpened = resolve;
      this.#rejectOpened = reject;
    });
    // Callers that only await `closed` must not see an unhandled rejection from `opened`.
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });

    this.#writer = createActor(writerQueueMachine, {
      clock,
      inspect: machineInspector(),
      input: {
        effects: bindWriterQueueEffects({
          flush: () => this.#flush(),
          endChannel: () => channel.end(),
          discardQueue: () => this.#outbound.discard(() => this.#closedError()),
        }),
      },
    });
    this.#link = createActor(linkMachine, {
      clock,
      inspect: machineInspector(),
      input: {
        handshakeTimeoutMs: settings.handshakeTimeoutMs,
        closeTimeoutMs: settings.closeTimeoutMs,
        effects: bindLinkEffects({
          announceOpen: () => this.#announceOpen(),
          endWriter: () => {
            // A closing link must see the peer's end of stream, so a link nobody read from
            // starts reading now (there is no one to give its packets to).
            if (this.#inbound.held) this.#startFlowing(true);
            this.#toWriter({ type: 'queue.ending' });
          },
          destroyChannel: () => this.#teardown(),
          announceClose: (reason, error) => this.#announceClose(reason, error),
        }),
      },
    });
    this.#writer.subscribe({
      next: (snapshot) => {
        if (snapshot.value === 'aborted' && snapshot.context.error) {
          this.#toLink({ type: 'writer.failed', error: snapshot.context.error });
        }
      },
      error: reportUnhandledError,
    });
    this.#link.subscribe({ error: reportUnhandledError });
    channel.attach({
      data: (chunk) => this.#inbound.push(chunk),
      drain: () => {
        this.#toWriter({ type: 'channel.drained' });
        this.#maybeDrain();
      },
      end: () => this.#onEnd(),
      close: (error) => {
        // A link already closed hears no more: no error is built for nobody.
        if (this.#link.getSnapshot().status !== 'active') return;
        this.#toLink({
          type: 'channel.closed',
          ...(error && {
            error: new ConnectionFailedError(`connection to ${this.peer} failed: ${error.message}`, {
              cause: error,
            }),
          }),
        });
      },
    });
    this.#link.start();
    const preamble = {
      write: (bytes: Uint8Array) => channel.write(bytes, () => {}),
      read: (length: number) => this.#inbound.read(length),
    };
    exchangeHandshake(preamble, this.handshake, role, settings.secret, random).then(
      () => {
        if (this.state !== 'handshaking') return;
        this.#inbound.hold();
        this.#toLink({ type: 'handshake.succeeded' });
      },
      (error: unknown) =>
        this.#toLink({
          type: 'handshake.failed',
          error: error instanceof Error ? error : new Error(String(error)),
        }),
    );
  }

  get state(): LinkState {
    return this.#link.getSnapshot().value;
  }

  /** The writer queue's state, for diagnostics and tests. */
  get writerState(): WriterQueueState {
    return this.#writer.getSnapshot().value;
  }

  /** Bytes queued in this link's writer, not yet handed to the channel. */
  get writableLength(): number {
    return this.#outbound.queuedBytes;
  }

  /** Bytes received but not yet forming a whole frame. */
  get readableLength(): number {
    return this.#reader.bufferedBytes + this.#inbound.bufferedBytes;
  }

  /**
   * Queues one packet. Returns false when the writer holds `highWaterMark` bytes or more: the
   * caller should wait for `drain` (or `await link.writable()`) before sending more.
   * Throws `LinkClosedError` once the link is closing or closed, `PacketTooLargeError` for a
   * packet over the maximum frame length, `PacketEncodeError` for a body that cannot be sent (its
   * cause a `ValueNotCloneableError` naming the path, `body.…`, of what cannot cross).
   */
  send(type: number, body?: unknown): boolean {
    if (!Number.isInteger(type) || type < 0 || type > 255) {
      throw new InvalidOptionError('packet type', 'an integer from 0 to 255', type);
    }
    const state = this.state;
    if (state === 'closing' || state === 'closed') {
      throw this.#closedError();
    }
    const outbound = this.#outbound;
    outbound.frame(type, body);
    if (!this.#flushScheduled && state === 'open') {
      // Everything sent before this microtask runs goes out in one write. A resolved promise's
      // `then` rather than queueMicrotask, which makes an AsyncResource each time (~1 µs a send).
      this.#flushScheduled = true;
      settled.then(this.#scheduledFlush);
    }
    if (outbound.queuedBytes >= this.highWaterMark) {
      this.#needDrain = true;
      return false;
    }
    return true;
  }

  /**
   * Sends what is queued now instead of at the end of this turn: for a caller about to keep the
   * thread busy (a node starting a long task), whose packets would otherwise wait behind it.
   */
  flush(): void {
    if (this.#flushScheduled) this.#scheduledFlush();
    if (this.state === 'open') this.#channel.flush?.();
  }

  /** Resolves when `send` would return true again; rejects with `LinkClosedError` if the link closes first. */
  writable(): Promise<void> {
    if (this.state === 'closed' || this.state === 'closing') {
      return Promise.reject(this.#closedError());
    }
    if (this.#outbound.queuedBytes < this.highWaterMark) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onDrain = () => {
        this.off('close', onClose);
        resolve();
      };
      const onClose = (info: LinkCloseInfo) => {
        this.off('drain', onDrain);
        reject(new LinkClosedError(this.id, info.reason));
      };
      this.once('drain', onDrain);
      this.once('close', onClose);
    });
  }

  /**
   * Resolves when every packet sent so far has been handed to the channel (the socket), or
   * rejects with `LinkClosedError` if the link closes with packets still queued.
   */
  flushed(): Promise<void> {
    const writer = this.#writer.getSnapshot();
    if (this.#outbound.queuedBytes === 0 && !this.#flushScheduled) return Promise.resolve();
    if (writer.status === 'done' && writer.value === 'aborted') {
      return Promise.reject(this.#closedError());
    }
    return this.#outbound.written();
  }

  /** Stop reading (the peer's writes back up to it); `resume()` to continue. */
  pause(): void {
    this.#reader.pause();
    this.#channel.pause();
  }

  resume(): void {
    this.#reader.resume();
    this.#channel.resume();
  }

  /** Flushes what is queued, ends the stream, and resolves when the link is closed. Idempotent. */
  close(): Promise<LinkCloseInfo> {
    this.#toLink({ type: 'link.close' });
    return this.closed;
  }

  /** Closes now: queued packets are discarded. Idempotent. */
  destroy(error?: Error): Promise<LinkCloseInfo> {
    this.#toLink({ type: 'link.destroy', ...(error && { error }) });
    return this.closed;
  }

  /** For `await using link = ...`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Events for a machine that already reached its final state are late news: dropped, not warned about. */
  #toLink(event: Parameters<Actor<typeof linkMachine>['send']>[0]): void {
    sendIfActive(this.#link, event);
  }

  /** What a send, or a wait for room or a flush, on a closing or closed link meets. */
  #closedError(): LinkClosedError {
    return new LinkClosedError(this.id, this.#link.getSnapshot().context.reason ?? 'closed');
  }

  #toWriter(event: Parameters<Actor<typeof writerQueueMachine>['send']>[0]): void {
    sendIfActive(this.#writer, event);
  }

  #onEnd(): void {
    // A stream that ends inside a frame is a violation, reported by the reader.
    if (this.#inbound.flowing && !this.#reader.end()) return;
    this.#toLink({ type: 'channel.ended' });
  }

  #announceOpen(): void {
    // The writer starts only now: nothing may be written before the handshake is done.
    this.#writer.start();
    this.#resolveOpened();
    this.#rejectOpened = undefined;
    this.emitSafely('open');
    // Like a readable stream's 'data', packets flow once someone listens for them: whoever
    // receives this link from `connect` or a listener gets every packet, however early it came.
    if (this.listenerCount('packet') > 0) this.#startFlowing();
  }

  #startFlowing(closing = false): void {
    if (!this.#inbound.held || (this.state !== 'open' && !closing)) return;
    this.#inbound.flow();
  }

  /** Whoever listens for packets gets them: held ones start flowing (after `open`). */
  protected override listenerAdded(event: keyof LinkEvents): void {
    if (event === 'packet' && this.#inbound.held) queueMicrotask(() => this.#startFlowing());
  }

  /** Hands the whole queue to the channel. */
  #flush(): void {
    if (!this.#outbound.writeTo(this.#channel, this.#onWritten)) {
      // Callers hear `drain` only when the channel has room too, not merely when our queue emptied.
      this.#toWriter({ type: 'write.refused' });
      return;
    }
    this.#maybeDrain();
  }

  readonly #onWritten = (error?: Error | null) => {
    if (error) {
      this.#toWriter({
        type: 'write.failed',
        error: new ConnectionFailedError(`write to ${this.peer} failed: ${error.message}`, {
          cause: error,
        }),
      });
    }
  };

  #maybeDrain(): void {
    if (this.#needDrain && this.#outbound.queuedBytes < this.highWaterMark && this.state === 'open') {
      this.#needDrain = false;
      this.emitSafely('drain');
    }
  }

  #teardown(): void {
    this.#reader.stop();
    this.#toWriter({ type: 'queue.aborted' });
    this.#writer.stop();
    this.#channel.destroy();
    this.#inbound.close();
  }

  #announceClose(reason: LinkCloseReason, error: Error | undefined): void {
    const cause =
      error ??
      (reason === 'handshake-failed'
        ? new ConnectionFailedError(`${this.peer} closed the connection during the handshake`)
        : reason === 'connection-failed'
          ? new ConnectionFailedError(`connection to ${this.peer} failed`)
          : undefined);
    const info: LinkCloseInfo = cause ? { reason, error: cause } : { reason };
    this.#rejectOpened?.(cause ?? new LinkClosedError(this.id, reason));
    this.#rejectOpened = undefined;
    this.#resolveClosed(info);
    this.emitSafely('close', info);
  }
}
