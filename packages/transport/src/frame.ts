import { FrameTooLargeError, FrameTruncatedError, type ProtocolError } from './errors.js';

/**
 * A frame on the wire: `[type: u8][length: u32 little-endian][body: length bytes]`.
 * See docs/protocol.md.
 */
export const FRAME_HEADER_LENGTH = 5;

/** The largest body a link accepts unless told otherwise. Large enough for real payloads,
 * small enough that a hostile length cannot make a node allocate gigabytes. */
export const DEFAULT_MAX_FRAME_LENGTH = 64 * 1024 * 1024;

/** Writes larger than this are split, so one huge frame cannot monopolise a socket's buffer. */
export const MAX_WRITE_CHUNK = 1024 * 1024;

export function writeFrameHeader(target: Uint8Array, offset: number, type: number, length: number): void {
  target[offset] = type;
  target[offset + 1] = length & 0xff;
  target[offset + 2] = (length >>> 8) & 0xff;
  target[offset + 3] = (length >>> 16) & 0xff;
  target[offset + 4] = (length >>> 24) & 0xff;
}

export function encodeFrame(type: number, body: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + body.length);
  writeFrameHeader(frame, 0, type, body.length);
  frame.set(body, FRAME_HEADER_LENGTH);
  return frame;
}

const EMPTY = Buffer.alloc(0);

type DecoderState = 'header' | 'body' | 'failed';

/**
 * Receives one whole frame: its body is `source[start..end)`. The body is handed over as a
 * range rather than a view of its own, so the common case (a frame inside one chunk) allocates
 * nothing; `source` may be reused once the handler returns.
 */
export type FrameHandler = (type: number, source: Buffer, start: number, end: number) => void;

/**
 * A streaming frame parser with explicit states. Chunks may split a header, hold many frames,
 * or arrive one byte at a time. The announced length is checked against the maximum before a
 * single byte of body is buffered, so memory stays bounded by `maxFrameLength` plus one chunk.
 *
 * After a protocol error the decoder is `failed` and rethrows that error on any further input:
 * a byte stream has no way to resynchronise, and the owner closes the link.
 */
export class FrameDecoder {
  #state: DecoderState = 'header';
  /** Unconsumed input: `#chunks[0]` from `#offset` on, then the rest whole. */
  #chunks: Buffer[] = [];
  #offset = 0;
  #buffered = 0;
  #type = 0;
  #length = 0;
  #error: ProtocolError | undefined;

  constructor(
    private readonly onFrame: FrameHandler,
    readonly maxFrameLength: number = DEFAULT_MAX_FRAME_LENGTH,
  ) {}

  get state(): DecoderState {
    return this.#state;
  }

  /** Bytes held that do not yet form a whole frame. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  push(chunk: Uint8Array): void {
    if (this.#error) throw this.#error;
    if (chunk.length === 0) return;
    this.#chunks.push(
      Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length),
    );
    this.#buffered += chunk.length;
    for (;;) {
      if (this.#state === 'header') {
        if (this.#buffered < FRAME_HEADER_LENGTH) return;
        this.#readHeader();
        if (this.#length > this.maxFrameLength) {
          this.#fail(new FrameTooLargeError(this.#type, this.#length, this.maxFrameLength));
        }
        this.#state = 'body';
      }
      if (this.#buffered < this.#length) return;
      this.#state = 'header';
      this.#deliver(this.#type, this.#length);
      // A handler may have ended the stream from inside onFrame.
      if (this.#error) throw this.#error;
    }
  }

  /** The stream ended: anything buffered is a truncated frame. */
  end(): void {
    if (this.#error) throw this.#error;
    if (this.#state === 'body') {
      this.#fail(
        new FrameTruncatedError(FRAME_HEADER_LENGTH + this.#length, FRAME_HEADER_LENGTH + this.#buffered),
      );
    }
    if (this.#buffered > 0) {
      this.#fail(new FrameTruncatedError(FRAME_HEADER_LENGTH, this.#buffered));
    }
  }

  #fail(error: ProtocolError): never {
    this.#state = 'failed';
    this.#error = error;
    this.#chunks = [];
    this.#offset = 0;
    this.#buffered = 0;
    throw error;
  }

  /** Reads the 5-byte header in place when one chunk holds it (the common case), without a copy. */
  #readHeader(): void {
    const first = this.#chunks[0]!;
    const at = this.#offset;
    if (first.length - at >= FRAME_HEADER_LENGTH) {
      this.#type = first[at]!;
      this.#length = first.readUInt32LE(at + 1);
      this.#advance(FRAME_HEADER_LENGTH);
      return;
    }
    const header = this.#copyOut(FRAME_HEADER_LENGTH);
    this.#type = header[0]!;
    this.#length = header.readUInt32LE(1);
  }

  /** Hands the next `n` bytes to the handler: in place when one chunk holds them, else copied. */
  #deliver(type: number, n: number): void {
    const first = this.#chunks[0];
    const at = this.#offset;
    if (n === 0) this.onFrame(type, EMPTY, 0, 0);
    else if (first && first.length - at >= n) {
      this.#advance(n);
      this.onFrame(type, first, at, at + n);
    } else {
      const body = this.#copyOut(n);
      this.onFrame(type, body, 0, n);
    }
  }

  /** Moves past `n` bytes that the first chunk holds. */
  #advance(n: number): void {
    this.#buffered -= n;
    this.#offset += n;
    if (this.#offset === this.#chunks[0]!.length) {
      this.#chunks.shift();
      this.#offset = 0;
    }
  }

  /** The next `n` bytes, which span chunks, copied into one buffer. */
  #copyOut(n: number): Buffer {
    this.#buffered -= n;
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks[0]!;
      const take = Math.min(chunk.length - this.#offset, n - filled);
      chunk.copy(out, filled, this.#offset, this.#offset + take);
      filled += take;
      if (this.#offset + take === chunk.length) {
        this.#chunks.shift();
        this.#offset = 0;
      } else {
        this.#offset += take;
      }
    }
    return out;
  }
}
