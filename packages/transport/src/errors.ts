/**
 * Every error troupe raises is a `TroupeError` with a stable `code` that callers match on.
 *
 * Errors are branded with a `Symbol.for` key listing the codes of their class chain, and
 * `instanceof` consults that brand instead of prototype identity, so an error thrown by one
 * installed copy of troupe is still recognised by another (two versions in one tree, or a
 * node process that loaded its own copy).
 */
const kCodes = Symbol.for('troupe.error.codes');

type Branded = { [kCodes]?: readonly string[] };

const TROUPE_ERROR = 'TROUPE_ERROR';

export class TroupeError extends Error {
  static readonly code: string = TROUPE_ERROR;
  readonly code: string;
  declare readonly [kCodes]: readonly string[];

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    const target = new.target as typeof TroupeError;
    // The brand lives on each class's prototype, worked out the first time one is made: errors
    // are made often (every lost connection, every cancelled request), their classes rarely.
    if (!Object.hasOwn(target.prototype, kCodes)) {
      const chain: string[] = [];
      for (let ctor = target; ctor && 'code' in ctor; ctor = Object.getPrototypeOf(ctor)) {
        if (Object.hasOwn(ctor, 'code')) chain.push(ctor.code);
      }
      Object.defineProperty(target.prototype, kCodes, { value: Object.freeze(chain), enumerable: false });
    }
    // Not `TroupeError.code`: a class that names itself inside its body is bundled as
    // `class _TroupeError`, and would be named that (scripts/bundle.mjs keeps names otherwise).
    this.code = (this as Branded)[kCodes]?.[0] ?? TROUPE_ERROR;
    this.name = target.name;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== 'object' || value === null) return false;
    const codes = (value as Branded)[kCodes];
    // `this` is the class instanceof was asked about: each subclass matches its own code.
    // biome-ignore lint/complexity/noThisInStatic: polymorphic on purpose
    return Array.isArray(codes) && codes.includes(this.code);
  }
}

/** The peer sent something troupe cannot accept; the link it came on is closed. */
export class ProtocolError extends TroupeError {
  static override readonly code: string = 'TROUPE_PROTOCOL_ERROR';
}

export class FrameTooLargeError extends ProtocolError {
  static override readonly code = 'TROUPE_FRAME_TOO_LARGE';
  constructor(
    readonly packetType: number,
    readonly length: number,
    readonly maxLength: number,
  ) {
    super(
      `frame of type ${packetType} announces ${length} bytes, over this link's maximum of ${maxLength}; ` +
        'nothing was allocated for it',
    );
  }
}

export class FrameTruncatedError extends ProtocolError {
  static override readonly code = 'TROUPE_FRAME_TRUNCATED';
  constructor(
    readonly expected: number,
    readonly received: number,
  ) {
    super(`stream ended inside a frame: ${received} of ${expected} bytes received`);
  }
}

export class PacketDecodeError extends ProtocolError {
  static override readonly code = 'TROUPE_PACKET_DECODE';
  constructor(
    readonly packetType: number,
    cause: unknown,
  ) {
    super(`body of packet type ${packetType} is not valid msgpack: ${describe(cause)}`, { cause });
  }
}

export class PacketEncodeError extends TroupeError {
  static override readonly code = 'TROUPE_PACKET_ENCODE';
  constructor(
    readonly packetType: number,
    cause: unknown,
  ) {
    super(`body of packet type ${packetType} cannot be encoded: ${describe(cause)}`, { cause });
  }
}

/**
 * A value that cannot cross a link (a function, a symbol, a promise...): `path` says where it is
 * inside what was sent, e.g. `result.handlers[2].onDone`. Raised on the sending side.
 */
export class ValueNotCloneableError extends TroupeError {
  static override readonly code = 'TROUPE_VALUE_NOT_CLONEABLE';
  constructor(
    readonly path: string,
    readonly what: string,
    options?: { cause?: unknown },
  ) {
    super(
      `${path} is ${what}: only structured-cloneable values cross between host and nodes (docs/protocol.md, "Values")`,
      options,
    );
  }
}

export class PacketTooLargeError extends TroupeError {
  static override readonly code = 'TROUPE_PACKET_TOO_LARGE';
  constructor(
    readonly packetType: number,
    readonly length: number,
    readonly maxLength: number,
  ) {
    super(
      `packet of type ${packetType} encodes to ${length} bytes, over the link's maximum frame of ${maxLength}`,
    );
  }
}

/** The two ends could not agree to talk; the connection is closed before any packet flows. */
/** A frame had begun and then no byte of it arrived for too long; the link is closed. */
export class FrameTimeoutError extends ProtocolError {
  static override readonly code = 'TROUPE_FRAME_TIMEOUT';
  constructor(
    readonly bufferedBytes: number,
    readonly timeoutMs: number,
  ) {
    super(`a frame in progress got no more bytes for ${timeoutMs} ms (${bufferedBytes} bytes of it held)`);
  }
}

export class HandshakeError extends TroupeError {
  static override readonly code: string = 'TROUPE_HANDSHAKE_FAILED';
}

export class HandshakeMismatchError extends HandshakeError {
  static override readonly code = 'TROUPE_HANDSHAKE_MISMATCH';
  constructor(
    readonly component: string,
    readonly expected: string,
    readonly received: string,
  ) {
    super(`handshake mismatch in ${component}: expected ${expected}, peer sent ${received}`);
  }
}

export class HandshakeTimeoutError extends HandshakeError {
  static override readonly code = 'TROUPE_HANDSHAKE_TIMEOUT';
  constructor(
    readonly timeoutMs: number,
    readonly stage: string,
  ) {
    super(`handshake did not complete within ${timeoutMs} ms (stage: ${stage})`);
  }
}

export class AuthenticationError extends HandshakeError {
  static override readonly code = 'TROUPE_AUTH_FAILED';
}

export class LinkClosedError extends TroupeError {
  static override readonly code = 'TROUPE_LINK_CLOSED';
  constructor(
    readonly linkId: string,
    readonly reason: string,
  ) {
    super(`link ${linkId} is closed (${reason}); the packet was not sent`);
  }
}

export class ConnectError extends TroupeError {
  static override readonly code = 'TROUPE_CONNECT_FAILED';
  constructor(
    readonly address: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot connect to ${address}: ${message}`, options);
  }
}

/** An I/O failure on a link that was open: reset, broken pipe, the peer vanished. */
export class ConnectionFailedError extends TroupeError {
  static override readonly code = 'TROUPE_CONNECTION_FAILED';
}

export class ListenError extends TroupeError {
  static override readonly code: string = 'TROUPE_LISTEN_FAILED';
}

export class AddressInUseError extends ListenError {
  static override readonly code = 'TROUPE_ADDRESS_IN_USE';
  constructor(readonly address: string) {
    super(`${address} is in use by a live listener`);
  }
}

export class UnsafeDirectoryError extends ListenError {
  static override readonly code = 'TROUPE_UNSAFE_DIRECTORY';
  constructor(
    readonly directory: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`refusing to use ${directory} for sockets: ${detail}`, options);
  }
}

/**
 * A listener on TCP was asked to listen with no way to tell who connects: no shared secret and no
 * TLS client certificates. Anyone who can reach the port could connect (on loopback, every local
 * user), so it needs `insecure: true` said out loud.
 */
export class InsecureListenError extends ListenError {
  static override readonly code = 'TROUPE_INSECURE_LISTEN';
  constructor(readonly address: string) {
    super(
      `refusing to listen on ${address} without a secret: anyone who can reach it (on loopback, every ` +
        'local user) could connect and run tasks; pass a secret, TLS with client certificates ' +
        '(requestCert), or insecure: true to accept that',
    );
  }
}

/**
 * A connection the listener closed before its owner admitted it: it waited too long, or the
 * listener held too many such connections or too many of their bytes. The listener keeps going.
 */
export class AdmissionError extends TroupeError {
  static override readonly code: string = 'TROUPE_ADMISSION';
}

export class AdmissionTimeoutError extends AdmissionError {
  static override readonly code = 'TROUPE_ADMISSION_TIMEOUT';
  constructor(
    readonly peer: string,
    readonly timeoutMs: number,
  ) {
    super(`${peer} was not admitted within ${timeoutMs} ms of its handshake`);
  }
}

export class TooManyPendingError extends AdmissionError {
  static override readonly code = 'TROUPE_TOO_MANY_PENDING';
  constructor(
    readonly peer: string,
    readonly maxPending: number,
  ) {
    super(
      `closed ${peer}, the oldest of ${maxPending} connections waiting to be admitted (the most allowed), ` +
        'to make room for a new one',
    );
  }
}

export class PendingBytesError extends AdmissionError {
  static override readonly code = 'TROUPE_PENDING_BYTES';
  constructor(
    readonly peer: string,
    readonly bytes: number,
    readonly totalBytes: number,
    readonly maxPendingBytes: number,
  ) {
    super(
      `closed ${peer}: it held ${bytes} bytes, the most of the connections waiting to be admitted, ` +
        `which held ${totalBytes} bytes together, over the limit of ${maxPendingBytes}`,
    );
  }
}

export class InvalidOptionError extends TroupeError {
  static override readonly code = 'TROUPE_INVALID_OPTION';
  constructor(
    readonly option: string,
    readonly accepted: string,
    readonly received: unknown,
  ) {
    super(`option ${option} must be ${accepted}; received ${describe(received)}`);
  }
}

export function describe(value: unknown): string {
  if (value instanceof Error) return value.message;
  if (typeof value === 'string') return JSON.stringify(value);
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

let reporter: (error: unknown) => void = (error) => {
  process.emitWarning(error instanceof Error ? error : new TroupeError(describe(error)), {
    code: 'TROUPE_UNHANDLED',
  });
};

/**
 * The one exit for errors that have no caller left to receive them (a failure inside an
 * event handler, a close after everyone stopped listening). Never throws into the event loop.
 */
export function reportUnhandledError(error: unknown): void {
  try {
    reporter(error);
  } catch {
    // A broken reporter must not turn one lost error into a crash.
  }
}

export function setUnhandledErrorReporter(next: (error: unknown) => void): () => void {
  const previous = reporter;
  reporter = next;
  return () => {
    reporter = previous;
  };
}
