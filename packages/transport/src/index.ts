// @troupe/transport's public door: what a user of the README and docs/ needs, covered by semver.
// Each name is listed in test/exports.test.ts; the rest is behind '@troupe/transport/internal'.
export { type Clock, systemClock, type TimerId } from './clock.js';
export {
  AddressInUseError,
  AdmissionError,
  AdmissionTimeoutError,
  AuthenticationError,
  ConnectError,
  ConnectionFailedError,
  FrameTimeoutError,
  FrameTooLargeError,
  FrameTruncatedError,
  HandshakeError,
  HandshakeMismatchError,
  HandshakeTimeoutError,
  InsecureListenError,
  InvalidOptionError,
  LinkClosedError,
  ListenError,
  PacketDecodeError,
  PacketEncodeError,
  PacketTooLargeError,
  PendingBytesError,
  ProtocolError,
  setUnhandledErrorReporter,
  TooManyPendingError,
  TroupeError,
  UnsafeDirectoryError,
  ValueNotCloneableError,
} from './errors.js';
export type { Handshake, HandshakeFlag, HandshakeOptions } from './handshake.js';
export { Link, type LinkCloseInfo, type LinkEvents, type LinkOptions, type LinkState } from './link.js';
export type { LinkCloseReason } from './machines/link.machine.js';
export { type RandomSource, systemRandom } from './random.js';
export {
  type AdmissionOptions,
  type ConnectOptions,
  Listener,
  type ListenerEvents,
  type ListenOptions,
  type Transport,
  type TransportKind,
} from './transport.js';
export { MemoryTransport, type MemoryTransportOptions } from './transports/memory.js';
export { PipeTransport, type PipeTransportOptions } from './transports/pipe.js';
export { type TcpConnectOptions, type TcpListenOptions, TcpTransport } from './transports/tcp.js';
export { PROTOCOL_VERSION, RUNTIME_VERSION } from './version.js';
