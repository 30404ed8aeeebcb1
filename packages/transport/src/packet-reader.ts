import { PacketDecodeError, ProtocolError, reportUnhandledError } from './errors.js';
import { FrameDecoder } from './frame.js';
import { FrameTimeout } from './frame-timeout.js';
import type { LinkSettings } from './link-options.js';
import { createValueDecoder } from './values.js';

/** What a packet reader tells its link, and asks of it. */
export interface PacketReaderLink {
  /** A closed link reads no more. */
  isClosed(): boolean;
  packet(type: number, body: unknown): void;
  /** The peer broke the protocol (a bad frame or body, a frame that stalled): the link closes. */
  violated(error: Error): void;
}

/**
 * Frames in, packets out, for one link once its handshake is done: the frame decoder, the body
 * decoder (structured-clone semantics, values.ts) and the frame timeout. Nothing the peer sends
 * throws out of it: bad bytes are reported to the link as a violation.
 */
export class PacketReader {
  readonly #link: PacketReaderLink;
  readonly #decoder: FrameDecoder;
  readonly #unpackr = createValueDecoder();
  readonly #timeout: FrameTimeout;

  constructor(
    link: PacketReaderLink,
    settings: Pick<LinkSettings, 'maxFrameLength' | 'clock' | 'frameTimeoutMs'>,
  ) {
    this.#link = link;
    this.#decoder = new FrameDecoder(
      (type, source, start, end) => this.#onFrame(type, source, start, end),
      settings.maxFrameLength,
    );
    this.#timeout = new FrameTimeout(
      settings.clock,
      settings.frameTimeoutMs,
      () => (link.isClosed() ? 0 : this.#decoder.bufferedBytes),
      (error) => link.violated(error),
    );
  }

  /** Bytes received but not yet forming a whole frame. */
  get bufferedBytes(): number {
    return this.#decoder.bufferedBytes;
  }

  push(chunk: Uint8Array): void {
    try {
      this.#decoder.push(chunk);
    } catch (error) {
      if (error instanceof ProtocolError) this.#link.violated(error);
      else reportUnhandledError(error);
      return;
    }
    if (this.#decoder.bufferedBytes > 0) this.#timeout.progressed();
  }

  /** The peer ended its stream. False if it ended inside a frame (reported as a violation). */
  end(): boolean {
    try {
      this.#decoder.end();
    } catch (error) {
      this.#link.violated(error as Error);
      return false;
    }
    return true;
  }

  /** The link stopped reading: the peer waits on us, so a frame in progress is not timed. */
  pause(): void {
    this.#timeout.pause();
  }

  resume(): void {
    this.#timeout.resume();
  }

  /** The link closed: no timer is left behind. */
  stop(): void {
    this.#timeout.stop();
  }

  #onFrame(type: number, source: Buffer, start: number, end: number): void {
    if (this.#link.isClosed()) return;
    let value: unknown;
    try {
      // A range of the chunk, not a view of it: msgpackr caches its DataView on the chunk, so a
      // chunk of many frames costs one, not one per frame.
      value = this.#unpackr.unpack(source, { start, end });
    } catch (error) {
      this.#link.violated(new PacketDecodeError(type, error));
      return;
    }
    this.#link.packet(type, value);
  }
}
