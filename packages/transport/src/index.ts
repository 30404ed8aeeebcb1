export type { ByteChannel, ChannelSink } from './channel.js';
export { socketChannel } from './channel.js';
export { type Clock, systemClock, type TimerId } from './clock.js';
export {
  AddressInUseError,
  AdmissionError,
  AdmissionTimeoutError,
  AuthenticationError,
  ConnectError,
  ConnectionFailedError,
  describe,
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
  reportUnhandledError,
  setUnhandledErrorReporter,
  TooManyPendingError,
  TroupeError,
  UnsafeDirectoryError,
  ValueNotCloneableError,
} from './errors.js';
export {
  DEFAULT_MAX_FRAME_LENGTH,
  encodeFrame,
  FRAME_HEADER_LENGTH,
  FrameDecoder,
  MAX_WRITE_CHUNK,
} from './frame.js';
export {
  createHandshake,
  decodeHandshake,
  describeHandshake,
  encodeHandshake,
  HANDSHAKE_LENGTH,
  type Handshake,
  type HandshakeFlag,
  type HandshakeOptions,
  type Role,
  userSalt,
  verifyHandshake,
} from './handshake.js';
export { type MachineInspector, machineInspector, setMachineInspector } from './inspect.js';
export { Link, type LinkCloseInfo, type LinkEvents, type LinkOptions, type LinkState } from './link.js';
export { type LinkCloseReason, linkMachine } from './machines/link.machine.js';
export { type WriterQueueState, writerQueueMachine } from './machines/writer-queue.machine.js';
export { type RandomSource, systemRandom } from './random.js';
export {
  type AdmissionOptions,
  type ConnectOptions,
  Listener,
  type ListenerEvents,
  type ListenOptions,
  openLink,
  type Transport,
  type TransportKind,
} from './transport.js';
export {
  type Delivery,
  immediateNetwork,
  type MemoryNetwork,
  MemoryTransport,
  type MemoryTransportOptions,
} from './transports/memory.js';
export {
  defaultSocketDirectory,
  ensurePrivateDirectory,
  PipeTransport,
  type PipeTransportOptions,
} from './transports/pipe.js';
export { messagePortChannel } from './transports/port.js';
export {
  parseTcpAddress,
  type TcpConnectOptions,
  type TcpListenOptions,
  TcpTransport,
} from './transports/tcp.js';
export { assertCloneable, findRefused, refusedValue } from './values.js';
export { PROTOCOL_VERSION, RUNTIME_VERSION } from './version.js';
