// What a link is given (its options, settled once: linkSettings) and what it tells (its state, events
// and how it closed).
import { type Clock, systemClock } from './clock.js';
import { InvalidOptionError } from './errors.js';
import { DEFAULT_MAX_FRAME_LENGTH } from './frame.js';
import { createHandshake, type Handshake, type HandshakeOptions } from './handshake.js';
import type { LinkCloseReason, LinkMachineState } from './machines/link.machine.js';
import type { RandomSource } from './random.js';

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

/** A link's options, checked, with the defaults filled in. */
export interface LinkSettings {
  readonly handshake: Handshake;
  readonly secret: string | Uint8Array | undefined;
  readonly maxFrameLength: number;
  readonly highWaterMark: number;
  readonly handshakeTimeoutMs: number;
  readonly closeTimeoutMs: number;
  readonly frameTimeoutMs: number;
  readonly clock: Clock;
}

const DEFAULT_HIGH_WATER_MARK = 1024 * 1024;

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value <= 0) throw new InvalidOptionError(name, 'a positive integer', value);
  return value;
}

/** Checks `options` (`InvalidOptionError` naming the first bad one) and fills in the defaults. */
export function linkSettings(options: LinkOptions): LinkSettings {
  const maxFrameLength = positiveInteger('maxFrameLength', options.maxFrameLength, DEFAULT_MAX_FRAME_LENGTH);
  if (maxFrameLength > 0xffff_ffff) {
    throw new InvalidOptionError('maxFrameLength', 'at most 4294967295 (a u32)', maxFrameLength);
  }
  const highWaterMark = positiveInteger('highWaterMark', options.highWaterMark, DEFAULT_HIGH_WATER_MARK);
  const frameTimeoutMs = positiveInteger('frameTimeoutMs', options.frameTimeoutMs, 30_000);
  const handshake = createHandshake(options.handshake, options.secret !== undefined);
  return {
    handshake,
    secret: options.secret,
    maxFrameLength,
    highWaterMark,
    handshakeTimeoutMs: positiveInteger('handshakeTimeoutMs', options.handshakeTimeoutMs, 10_000),
    closeTimeoutMs: positiveInteger('closeTimeoutMs', options.closeTimeoutMs, 2_000),
    frameTimeoutMs,
    clock: options.clock ?? systemClock,
  };
}

/** How a link ended: the first close reason wins, with the error that caused it, if any. */
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
