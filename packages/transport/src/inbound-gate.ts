import type { ByteChannel } from './channel.js';
import { ConnectionFailedError } from './errors.js';

type Reader = { length: number; resolve: (bytes: Buffer) => void; reject: (error: Error) => void };

/**
 * Where a link's inbound bytes go. Not lifecycle (the link machine owns that): during the
 * handshake, bytes are read as a preamble (`read`); between the handshake's last read and the
 * link announcing `open` (and until someone listens for packets) they are held, so that no
 * packet is delivered before `open`; then they flow, held ones first, to the frame decoder.
 */
export class InboundGate {
  #mode: 'preamble' | 'held' | 'frames' = 'preamble';
  /** Bytes read and not yet taken: a preamble not yet asked for, or packets held. */
  #buffered: Buffer[] = [];
  #bufferedBytes = 0;
  #reader: Reader | undefined;
  readonly #channel: Pick<ByteChannel, 'pause' | 'resume'>;
  /** Held bytes above which the peer is made to wait (the channel is paused). */
  readonly #highWaterMark: number;
  /** Where bytes go once they flow. */
  readonly #frames: (chunk: Uint8Array) => void;

  constructor(
    channel: Pick<ByteChannel, 'pause' | 'resume'>,
    highWaterMark: number,
    frames: (chunk: Uint8Array) => void,
  ) {
    this.#channel = channel;
    this.#highWaterMark = highWaterMark;
    this.#frames = frames;
  }

  /** True once bytes flow to the frame decoder. */
  get flowing(): boolean {
    return this.#mode === 'frames';
  }

  /** True while packets are held, after the handshake and before they flow. */
  get held(): boolean {
    return this.#mode === 'held';
  }

  /** Bytes received and not yet handed on. */
  get bufferedBytes(): number {
    return this.#bufferedBytes;
  }

  /** The next `length` bytes of the preamble, once they arrived. One read at a time. */
  read(length: number): Promise<Buffer> {
    if (this.#reader) return Promise.reject(new Error('concurrent preamble reads'));
    return new Promise((resolve, reject) => {
      this.#reader = { length, resolve, reject };
      this.#serve();
    });
  }

  /** Bytes from the channel. */
  push(chunk: Uint8Array): void {
    if (this.#mode === 'frames') {
      this.#frames(chunk);
      return;
    }
    this.#buffered.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
    this.#bufferedBytes += chunk.length;
    if (this.#mode === 'preamble') this.#serve();
    // Packets nobody listens for yet are held; past the high-water mark the peer is made to wait.
    else if (this.#bufferedBytes >= this.#highWaterMark) this.#channel.pause();
  }

  /** The preamble is over: what comes next is packets, held until `flow`. */
  hold(): void {
    this.#mode = 'held';
  }

  /** Held packets go to the frame decoder, and so does everything after them. */
  flow(): void {
    if (this.#mode !== 'held') return;
    this.#mode = 'frames';
    const held = this.#buffered;
    this.#buffered = [];
    this.#bufferedBytes = 0;
    for (const chunk of held) this.#frames(chunk);
    this.#channel.resume();
  }

  /** The link closed: a preamble read still waiting fails. */
  close(): void {
    if (!this.#reader) return;
    this.#reader.reject(new ConnectionFailedError('link closed during the handshake'));
    this.#reader = undefined;
  }

  #serve(): void {
    const reader = this.#reader;
    if (!reader || this.#bufferedBytes < reader.length) return;
    const all = Buffer.concat(this.#buffered, this.#bufferedBytes);
    const out = all.subarray(0, reader.length);
    const rest = all.subarray(reader.length);
    this.#buffered = rest.length ? [rest] : [];
    this.#bufferedBytes = rest.length;
    this.#reader = undefined;
    reader.resolve(out);
  }
}
