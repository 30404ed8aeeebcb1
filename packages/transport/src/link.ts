import { type Actor, createActor } from 'xstate';
import type { ByteChannel } from './channel.js';
import { type Clock, systemClock, type TimerId } from './clock.js';
import {
  ConnectionFailedError,
  FrameTimeoutError,
  InvalidOptionError,
  LinkClosedError,
  PacketDecodeError,
  PacketEncodeError,
  PacketTooLargeError,
  ProtocolError,
  reportUnhandledError,
} from './errors.js';
import {
  DEFAULT_MAX_FRAME_LENGTH,
  FRAME_HEADER_LENGTH,
  FrameDecoder,
  MAX_WRITE_CHUNK,
  writeFrameHeader,
} from './frame.js';
import {
  createHandshake,
  exchangeHandshake,
  type Handshake,
  type HandshakeOptions,
  type Role,
} from './handshake.js';
import { machineInspector } from './inspect.js';
import {
  bindLinkEffects,
  type LinkCloseReason,
  type LinkMachineState,
  linkMachine,
} from './machines/link.machine.js';
import {
  bindWriterQueueEffects,
  type WriterQueueState,
  writerQueueMachine,
} from './machines/writer-queue.machine.js';
import { type RandomSource, systemRandom } from './random.js';
import { SafeEmitter, sendIfActive } from './safe-emitter.js';
import { createValueDecoder, createValueEncoder, encodeValue, forgetStructures } from './values.js';

export interface LinkOptions {
  /** Settings both ends must share; a difference fails the handshake naming the component. */
  handshake?: HandshakeOptions;
  /** Shared secret: both ends prove they know it (challenge + HMAC) before any packet flows. */
  secret?: string | Uint8Array;
  /** Largest frame body accepted or sent, in bytes. Default 64 MiB. */
  maxFrameLength?: number;
  /** Bytes queued in the writer above which `send` returns false. Default 1 MiB. */
  highWaterMark?: number;
  /** Default 10 s. */
  handshakeTimeoutMs?: number;
  /** How long an orderly close may wait for the peer before the channel is destroyed. Default 2 s. */
  closeTimeoutMs?: number;
  /**
   * How long a frame that has begun may go without receiving any more of its bytes before the
   * link closes (`FrameTimeoutError`): a header announcing megabytes followed by silence holds
   * no memory past this. Not counted while the link is paused. Default 30 s.
   */
  frameTimeoutMs?: number;
  clock?: Clock;
  random?: RandomSource;
}

export interface LinkCloseInfo {
  readonly reason: LinkCloseReason;
  readonly error?: Error;
}

/** `handshaking`, `open`, `closing` or `closed`. */
export type LinkState = LinkMachineState;

export interface LinkEvents {
  open: [];
  packet: [type: number, body: unknown];
  drain: [];
  close: [info: LinkCloseInfo];
}

const DEFAULT_HIGH_WATER_MARK = 1024 * 1024;
/**
 * Size of the buffers small packets are framed into: a link's first arena is small (most links,
 * a node's control link, carry little), and each next one doubles up to the largest, so a busy
 * link soon frames into big arenas while a quiet one never holds 256 KiB it does not need.
 */
const FIRST_ARENA_SIZE = 4 * 1024;
const ARENA_SIZE = 256 * 1024;

/** Bytes of a msgpack `bin` header for a body of `length` bytes (bin 8, bin 16, bin 32). */
function binHeaderLength(length: number): number {
  return length < 0x100 ? 2 : length < 0x10000 ? 3 : 5;
}

/** Writes a msgpack `bin` header (big-endian length, as msgpack is); returns where the bytes go. */
function writeBinHeader(target: Buffer, at: number, length: number): number {
  if (length < 0x100) {
    target[at] = 0xc4;
    target[at + 1] = length;
    return at + 2;
  }
  if (length < 0x10000) {
    target[at] = 0xc5;
    target.writeUInt16BE(length, at + 1);
    return at + 3;
  }
  target[at] = 0xc6;
  target.writeUInt32BE(length, at + 1);
  return at + 5;
}
/** Below this, a frame is copied into one buffer with its header; above, header and body go
 * out as separate pieces so a large body is never copied. */
const COPY_LIMIT = 64 * 1024;

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value <= 0) throw new InvalidOptionError(name, 'a positive integer', value);
  return value;
}

/**
 * One connection carrying packets. Created by a transport around a byte channel; it runs the
 * handshake at once and is usable (`opened`) when both ends agreed.
 *
 * Lifecycle lives in two machines: the link machine (handshaking → open → closing → closed) and
 * the writer queue machine. Nothing a peer sends can throw out of this class: bad bytes close
 * the link with a `ProtocolError`, and errors from user handlers go to `reportUnhandledError`.
 */
export class Link extends SafeEmitter<LinkEvents> {
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
  /** Structured-clone semantics for everything but a Buffer body (values.ts). */
  readonly #packr = createValueEncoder();
  readonly #unpackr = createValueDecoder();
  readonly #decoder: FrameDecoder;
  readonly #link: Actor<typeof linkMachine>;
  readonly #writer: Actor<typeof writerQueueMachine>;
  /** Framed bytes ready to write, in order. */
  #chunks: Buffer[] = [];
  /**
   * Small packets are framed at send time straight into an arena, a bump-allocated buffer whose
   * unwritten tail (`#arenaStart`..`#arenaEnd`) goes out as one slice at the next flush. A small
   * packet costs one copy and no allocation of its own.
   */
  #arena: Buffer | undefined;
  #arenaStart = 0;
  #arenaEnd = 0;
  #queuedBytes = 0;
  #needDrain = false;
  #flushScheduled = false;
  #flushWaiters: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  readonly #scheduledFlush = () => {
    this.#flushScheduled = false;
    if (this.#writer.getSnapshot().value === 'flowing') this.#flush();
  };
  /**
   * Where inbound bytes go. Not lifecycle (the link machine owns that): during the handshake bytes
   * are read as a preamble; between the handshake's last read and the machine entering `open` they
   * are held so that no packet is delivered before `open` is announced.
   */
  #inbound: 'preamble' | 'held' | 'frames' = 'preamble';
  #preamble: Buffer[] = [];
  #preambleBytes = 0;
  #reader: { length: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  readonly #clock: Clock;
  /**
   * The frame-timeout check, armed while a frame is in progress and re-armed from the last byte
   * received when it fires early, so a stream of chunks costs a clock read each, not a timer each.
   */
  #frameTimer: TimerId | undefined;
  /** When bytes of the frame in progress last arrived. */
  #frameProgressAt = 0;
  /** Paused by its owner: the peer waits on us, so a frame in progress is not timed. */
  #paused = false;
  #resolveOpened!: () => void;
  /** Until the link opens: how to fail `opened` (dropped once it opened, so a close after that
   * builds no error nobody will see). */
  #rejectOpened: ((error: Error) => void) | undefined;
  #resolveClosed!: (info: LinkCloseInfo) => void;

  constructor(channel: ByteChannel, role: Role, options: LinkOptions = {}) {
    super();
    const random = options.random ?? systemRandom;
    const clock = options.clock ?? systemClock;
    this.#clock = clock;
    this.id = random.id(10);
    this.peer = channel.peer;
    this.role = role;
    this.#channel = channel;
    this.maxFrameLength = positiveInteger('maxFrameLength', options.maxFrameLength, DEFAULT_MAX_FRAME_LENGTH);
    if (this.maxFrameLength > 0xffff_ffff) {
      throw new InvalidOptionError('maxFrameLength', 'at most 4294967295 (a u32)', this.maxFrameLength);
    }
    this.highWaterMark = positiveInteger('highWaterMark', options.highWaterMark, DEFAULT_HIGH_WATER_MARK);
    this.frameTimeoutMs = positiveInteger('frameTimeoutMs', options.frameTimeoutMs, 30_000);
    this.handshake = createHandshake(options.handshake, options.secret !== undefined);
    this.#decoder = new FrameDecoder(
      (type, source, start, end) => this.#onFrame(type, source, start, end),
      this.maxFrameLength,
    );
    this.opened = new Promise((resolve, reject) => {
      this.#resolveOpened = resolve;
      this.#rejectOpened = reject;
    });
    // Callers that only await `closed` must not see an unhandled rejection from `opened`.
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });

    const secret = options.secret;
    const preamble = {
      write: (bytes: Uint8Array) => {
        channel.write(bytes, () => {});
      },
      read: (length: number) => this.#readPreamble(length),
    };
    this.#writer = bindWriterQueueEffects(
      createActor(writerQueueMachine, { clock, inspect: machineInspector() }),
      {
        flush: () => this.#flush(),
        endChannel: () => channel.end(),
        discardQueue: () => {
          this.#chunks = [];
          this.#arena = undefined;
          this.#arenaStart = this.#arenaEnd = 0;
          this.#queuedBytes = 0;
          if (this.#flushWaiters.length === 0) return;
          const error = new LinkClosedError(this.id, this.#link.getSnapshot().context.reason ?? 'closed');
          for (const waiter of this.#flushWaiters.splice(0)) waiter.reject(error);
        },
      },
    );
    this.#link = bindLinkEffects(
      createActor(linkMachine, {
        clock,
        inspect: machineInspector(),
        input: {
          handshakeTimeoutMs: positiveInteger('handshakeTimeoutMs', options.handshakeTimeoutMs, 10_000),
          closeTimeoutMs: positiveInteger('closeTimeoutMs', options.closeTimeoutMs, 2_000),
        },
      }),
      {
        announceOpen: () => this.#announceOpen(),
        endWriter: () => {
          // A closing link must see the peer's end of stream, so a link nobody read from
          // starts reading now (there is no one to give its packets to).
          if (this.#inbound === 'held') this.#startFlowing(true);
          this.#toWriter({ type: 'queue.ending' });
        },
        destroyChannel: () => this.#teardown(),
        announceClose: (reason, error) => this.#announceClose(reason, error),
      },
    );
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
      data: (chunk) => this.#onData(chunk),
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
    exchangeHandshake(preamble, this.handshake, role, secret, random).then(
      () => {
        if (this.state !== 'handshaking') return;
        this.#inbound = 'held';
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
    return this.#queuedBytes;
  }

  /** Bytes received but not yet forming a whole frame. */
  get readableLength(): number {
    return this.#decoder.bufferedBytes + this.#preambleBytes;
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
      throw new LinkClosedError(this.id, this.#link.getSnapshot().context.reason ?? 'closed');
    }
    // A Buffer body is written as a msgpack `bin` directly, without msgpackr's intermediate copy.
    const binary = Buffer.isBuffer(body) ? body : undefined;
    let encoded: Buffer | undefined;
    let length: number;
    if (binary) {
      length = binHeaderLength(binary.length) + binary.length;
    } else {
      try {
        encoded = encodeValue(this.#packr, body, 'body');
      } catch (error) {
        this.#resetStructures();
        throw new PacketEncodeError(type, error);
      }
      length = encoded.length;
    }
    if (length > this.maxFrameLength) {
      if (encoded) this.#resetStructures();
      throw new PacketTooLargeError(type, length, this.maxFrameLength);
    }
    const total = FRAME_HEADER_LENGTH + length;
    let target: Buffer;
    let at: number;
    if (length <= COPY_LIMIT) {
      if (!this.#arena || this.#arena.length - this.#arenaEnd < total) {
        this.#sealArena();
        const size = this.#arena ? Math.min(this.#arena.length * 2, ARENA_SIZE) : FIRST_ARENA_SIZE;
        this.#arena = Buffer.allocUnsafe(Math.max(size, total));
        this.#arenaStart = this.#arenaEnd = 0;
      }
      target = this.#arena;
      at = this.#arenaEnd;
      this.#arenaEnd += total;
    } else {
      // A large packet gets a buffer of its own (one copy, so the caller may reuse its Buffer).
      this.#sealArena();
      target = Buffer.allocUnsafe(total);
      at = 0;
      this.#chunks.push(target);
    }
    writeFrameHeader(target, at, type, length);
    if (binary) {
      const offset = writeBinHeader(target, at + FRAME_HEADER_LENGTH, binary.length);
      target.set(binary, offset);
    } else {
      target.set(encoded!, at + FRAME_HEADER_LENGTH);
    }
    this.#queuedBytes += total;
    if (!this.#flushScheduled && state === 'open') {
      // Everything sent before this microtask runs goes out in one write.
      this.#flushScheduled = true;
      queueMicrotask(this.#scheduledFlush);
    }
    if (this.#queuedBytes >= this.highWaterMark) {
      this.#needDrain = true;
      return false;
    }
    return true;
  }

  /** Resolves when `send` would return true again; rejects with `LinkClosedError` if the link closes first. */
  writable(): Promise<void> {
    if (this.state === 'closed' || this.state === 'closing') {
      return Promise.reject(
        new LinkClosedError(this.id, this.#link.getSnapshot().context.reason ?? 'closed'),
      );
    }
    if (this.#queuedBytes < this.highWaterMark) return Promise.resolve();
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
    if (this.#queuedBytes === 0 && !this.#flushScheduled) return Promise.resolve();
    if (writer.status === 'done' && writer.value === 'aborted') {
      return Promise.reject(
        new LinkClosedError(this.id, this.#link.getSnapshot().context.reason ?? 'closed'),
      );
    }
    return new Promise((resolve, reject) => this.#flushWaiters.push({ resolve, reject }));
  }

  /** Stop reading (the peer's writes back up to it); `resume()` to continue. */
  pause(): void {
    this.#paused = true;
    this.#channel.pause();
  }

  resume(): void {
    this.#paused = false;
    this.#frameProgressAt = this.#clock.now();
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

  #toWriter(event: Parameters<Actor<typeof writerQueueMachine>['send']>[0]): void {
    sendIfActive(this.#writer, event);
  }

  #resetStructures(): void {
    // The packer may have assigned a record structure for a packet that is never sent; the peer
    // would not know it. Forgetting all structures makes the next packets define them again.
    forgetStructures(this.#packr);
  }

  #readPreamble(length: number): Promise<Buffer> {
    if (this.#reader) return Promise.reject(new Error('concurrent preamble reads'));
    return new Promise((resolve, reject) => {
      this.#reader = { length, resolve, reject };
      this.#servePreamble();
    });
  }

  #servePreamble(): void {
    const reader = this.#reader;
    if (!reader || this.#preambleBytes < reader.length) return;
    const all = Buffer.concat(this.#preamble, this.#preambleBytes);
    const out = all.subarray(0, reader.length);
    const rest = all.subarray(reader.length);
    this.#preamble = rest.length ? [rest] : [];
    this.#preambleBytes = rest.length;
    this.#reader = undefined;
    reader.resolve(out);
  }

  #onData(chunk: Uint8Array): void {
    if (this.#inbound === 'frames') {
      this.#pushFrames(chunk);
      return;
    }
    this.#preamble.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
    this.#preambleBytes += chunk.length;
    if (this.#inbound === 'preamble') this.#servePreamble();
    // Packets nobody listens for yet are held; past the high-water mark the peer is made to wait.
    else if (this.#preambleBytes >= this.highWaterMark) this.#channel.pause();
  }

  #pushFrames(chunk: Uint8Array): void {
    try {
      this.#decoder.push(chunk);
    } catch (error) {
      if (error instanceof ProtocolError) this.#toLink({ type: 'protocol.violated', error });
      else reportUnhandledError(error);
      return;
    }
    if (this.#decoder.bufferedBytes > 0) {
      this.#frameProgressAt = this.#clock.now();
      this.#frameTimer ??= this.#clock.setTimeout(this.#checkFrame, this.frameTimeoutMs);
    }
  }

  /** A frame in progress that heard nothing for `frameTimeoutMs` closes the link. */
  readonly #checkFrame = () => {
    this.#frameTimer = undefined;
    if (this.#decoder.bufferedBytes === 0 || this.state === 'closed') return;
    const waited = this.#paused ? 0 : this.#clock.now() - this.#frameProgressAt;
    if (waited >= this.frameTimeoutMs) {
      this.#toLink({
        type: 'protocol.violated',
        error: new FrameTimeoutError(this.#decoder.bufferedBytes, this.frameTimeoutMs),
      });
      return;
    }
    this.#frameTimer = this.#clock.setTimeout(this.#checkFrame, this.frameTimeoutMs - waited);
  };

  #onFrame(type: number, source: Buffer, start: number, end: number): void {
    if (this.state === 'closed') return;
    let value: unknown;
    try {
      // A range of the chunk, not a view of it: msgpackr caches its DataView on the chunk, so a
      // chunk of many frames costs one, not one per frame.
      value = this.#unpackr.unpack(source, { start, end });
    } catch (error) {
      this.#toLink({ type: 'protocol.violated', error: new PacketDecodeError(type, error) });
      return;
    }
    try {
      this.emit('packet', type, value);
    } catch (error) {
      reportUnhandledError(error);
    }
  }

  #onEnd(): void {
    if (this.#inbound === 'frames') {
      try {
        this.#decoder.end();
      } catch (error) {
        this.#toLink({ type: 'protocol.violated', error: error as Error });
        return;
      }
    }
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
    if (this.#inbound !== 'held' || (this.state !== 'open' && !closing)) return;
    this.#inbound = 'frames';
    const held = this.#preamble;
    this.#preamble = [];
    this.#preambleBytes = 0;
    for (const chunk of held) this.#pushFrames(chunk);
    this.#channel.resume();
  }

  override on<E extends keyof LinkEvents>(
    event: E,
    fn: (...args: LinkEvents[E]) => void,
    context?: unknown,
  ): this {
    super.on(event, fn as never, context);
    if (event === 'packet' && this.#inbound === 'held') queueMicrotask(() => this.#startFlowing());
    return this;
  }

  override once<E extends keyof LinkEvents>(
    event: E,
    fn: (...args: LinkEvents[E]) => void,
    context?: unknown,
  ): this {
    super.once(event, fn as never, context);
    if (event === 'packet' && this.#inbound === 'held') queueMicrotask(() => this.#startFlowing());
    return this;
  }

  override addListener<E extends keyof LinkEvents>(
    event: E,
    fn: (...args: LinkEvents[E]) => void,
    context?: unknown,
  ): this {
    return this.on(event, fn, context);
  }

  /** Moves the arena's unwritten tail into the chunks to write. */
  #sealArena(): void {
    if (this.#arena && this.#arenaEnd > this.#arenaStart) {
      this.#chunks.push(this.#arena.subarray(this.#arenaStart, this.#arenaEnd));
      this.#arenaStart = this.#arenaEnd;
    }
  }

  /** Hands the whole queue to the channel, in order, in writes of at most 1 MiB. */
  #flush(): void {
    this.#sealArena();
    const chunks = this.#chunks;
    if (chunks.length > 0) {
      this.#chunks = [];
      this.#queuedBytes = 0;
      let accepted = true;
      const onWritten = (error?: Error | null) => {
        if (error) {
          this.#toWriter({
            type: 'write.failed',
            error: new ConnectionFailedError(`write to ${this.peer} failed: ${error.message}`, {
              cause: error,
            }),
          });
        }
      };
      for (const chunk of chunks) {
        for (let offset = 0; offset < chunk.length; offset += MAX_WRITE_CHUNK) {
          const piece =
            offset === 0 && chunk.length <= MAX_WRITE_CHUNK
              ? chunk
              : chunk.subarray(offset, offset + MAX_WRITE_CHUNK);
          accepted = this.#channel.write(piece, onWritten) && accepted;
        }
      }
      if (!accepted) {
        // Callers hear `drain` only when the channel has room too, not merely when our queue emptied.
        for (const waiter of this.#flushWaiters.splice(0)) waiter.resolve();
        this.#toWriter({ type: 'write.refused' });
        return;
      }
    }
    for (const waiter of this.#flushWaiters.splice(0)) waiter.resolve();
    this.#maybeDrain();
  }

  #maybeDrain(): void {
    if (this.#needDrain && this.#queuedBytes < this.highWaterMark && this.state === 'open') {
      this.#needDrain = false;
      this.emitSafely('drain');
    }
  }

  #teardown(): void {
    if (this.#frameTimer !== undefined) {
      this.#clock.clearTimeout(this.#frameTimer);
      this.#frameTimer = undefined;
    }
    this.#toWriter({ type: 'queue.aborted' });
    this.#writer.stop();
    this.#channel.destroy();
    if (this.#reader) {
      this.#reader.reject(new ConnectionFailedError('link closed during the handshake'));
      this.#reader = undefined;
    }
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
