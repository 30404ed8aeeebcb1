import type { Packr } from 'msgpackr';
import type { ByteChannel } from './channel.js';
import { PacketEncodeError, PacketTooLargeError } from './errors.js';
import { FRAME_HEADER_LENGTH, MAX_WRITE_CHUNK, writeFrameHeader } from './frame.js';
import { binLength, writeBin } from './msgpack-bin.js';
import { createValueEncoder, encodeValue, forgetStructures } from './values.js';

/**
 * Size of the buffers small packets are framed into: a link's first arena is small (most links,
 * a node's control link, carry little), and each next one doubles up to the largest, so a busy
 * link soon frames into big arenas while a quiet one never holds 256 KiB it does not need.
 */
const FIRST_ARENA_SIZE = 4 * 1024;
const ARENA_SIZE = 256 * 1024;
/** Below this, a frame is copied into one buffer with its header; above, header and body go
 * out as separate pieces so a large body is never copied. */
const COPY_LIMIT = 64 * 1024;

/**
 * A link's packets, framed and waiting to be written, in order. A packet is framed at send time:
 * its body encoded (a Buffer as a msgpack `bin` by hand, anything else by msgpackr with
 * structured-clone semantics, values.ts) and copied with its header into an arena, a
 * bump-allocated buffer whose unwritten tail (`#arenaStart`..`#arenaEnd`) goes out as one slice
 * at the next flush: a small packet costs one copy and no allocation of its own. A large packet
 * gets a buffer of its own (one copy, so the caller may reuse its Buffer).
 */
export class SendArena {
  /** The encoder of this link's direction: its record structures are this link's. */
  readonly #packr: Packr = createValueEncoder();
  readonly #maxFrameLength: number;
  /** Framed bytes ready to write, in order. */
  #chunks: Buffer[] = [];
  #arena: Buffer | undefined;
  #arenaStart = 0;
  #arenaEnd = 0;
  #queuedBytes = 0;
  /** Whoever waits for what was queued to be handed to the channel (`Link.flushed`). */
  #waiters: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];

  constructor(maxFrameLength: number) {
    this.#maxFrameLength = maxFrameLength;
  }

  /** Bytes framed and not yet handed to the channel. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /**
   * Frames one packet into the queue. Throws `PacketEncodeError` for a body that cannot be sent
   * and `PacketTooLargeError` for one over the maximum frame length; either way nothing is queued.
   */
  frame(type: number, body: unknown): void {
    // A Buffer body is written as a msgpack `bin` directly, without msgpackr's intermediate copy.
    const binary = Buffer.isBuffer(body) ? body : undefined;
    let encoded: Buffer | undefined;
    let length: number;
    if (binary) {
      length = binLength(binary.length);
    } else {
      try {
        encoded = encodeValue(this.#packr, body, 'body');
      } catch (error) {
        forgetStructures(this.#packr);
        throw new PacketEncodeError(type, error);
      }
      length = encoded.length;
    }
    if (length > this.#maxFrameLength) {
      if (encoded) forgetStructures(this.#packr);
      throw new PacketTooLargeError(type, length, this.#maxFrameLength);
    }
    const total = FRAME_HEADER_LENGTH + length;
    let target: Buffer;
    let at: number;
    if (length <= COPY_LIMIT) {
      if (!this.#arena || this.#arena.length - this.#arenaEnd < total) {
        this.#seal();
        const size = this.#arena ? Math.min(this.#arena.length * 2, ARENA_SIZE) : FIRST_ARENA_SIZE;
        this.#arena = Buffer.allocUnsafe(Math.max(size, total));
        this.#arenaStart = this.#arenaEnd = 0;
      }
      target = this.#arena;
      at = this.#arenaEnd;
      this.#arenaEnd += total;
    } else {
      this.#seal();
      target = Buffer.allocUnsafe(total);
      at = 0;
      this.#chunks.push(target);
    }
    writeFrameHeader(target, at, type, length);
    if (binary) writeBin(target, at + FRAME_HEADER_LENGTH, binary);
    else target.set(encoded!, at + FRAME_HEADER_LENGTH);
    this.#queuedBytes += total;
  }

  /**
   * Hands everything queued to `channel`, in order, in writes of at most 1 MiB. Returns false
   * when the channel said it is full (it still took the bytes: it buffers them).
   */
  writeTo(channel: ByteChannel, onWritten: (error?: Error | null) => void): boolean {
    this.#seal();
    const chunks = this.#chunks;
    let accepted = true;
    if (chunks.length > 0) {
      this.#chunks = [];
      this.#queuedBytes = 0;
      for (const chunk of chunks) {
        for (let offset = 0; offset < chunk.length; offset += MAX_WRITE_CHUNK) {
          const piece =
            offset === 0 && chunk.length <= MAX_WRITE_CHUNK
              ? chunk
              : chunk.subarray(offset, offset + MAX_WRITE_CHUNK);
          accepted = channel.write(piece, onWritten) && accepted;
        }
      }
    }
    for (const waiter of this.#waiters.splice(0)) waiter.resolve();
    return accepted;
  }

  /** Resolves at the next `writeTo`; rejects if the queue is discarded first. */
  written(): Promise<void> {
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /**
   * Drops everything queued (the link was destroyed or its channel failed); whoever waits for it
   * to be written gets `error()`.
   */
  discard(error: () => Error): void {
    this.#chunks = [];
    this.#arena = undefined;
    this.#arenaStart = this.#arenaEnd = 0;
    this.#queuedBytes = 0;
    if (this.#waiters.length === 0) return;
    const reason = error();
    for (const waiter of this.#waiters.splice(0)) waiter.reject(reason);
  }

  /** Moves the arena's unwritten tail into the chunks to write. */
  #seal(): void {
    if (this.#arena && this.#arenaEnd > this.#arenaStart) {
      this.#chunks.push(this.#arena.subarray(this.#arenaStart, this.#arenaEnd));
      this.#arenaStart = this.#arenaEnd;
    }
  }
}
