// @troupe/transport/internal: what @troupe/core, the simulator and the tests reach into and a user
// of links does not need: frames, handshake encoding, byte channels, the machines, the memory
// network, the value checks. NOT covered by semver: any name here may change or go in any release.
// A name moves to the index (and its export-list test) when a user needs it.
export { type ByteChannel, type ChannelSink, socketChannel } from './channel.js';
export { fulfilsWithin } from './clock.js';
export { describe, reportUnhandledError } from './errors.js';
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
  handshakeExtraBytes,
  networkSalt,
  type Role,
  userSalt,
  verifyHandshake,
} from './handshake.js';
export { type MachineInspector, machineInspector, setMachineInspector } from './inspect.js';
export { ActorEffects, type EffectsKey } from './machines/effects.js';
export {
  bindLinkEffects,
  type LinkEffects,
  type LinkMachineState,
  linkMachine,
} from './machines/link.machine.js';
export {
  bindWriterQueueEffects,
  type WriterQueueEffects,
  type WriterQueueState,
  writerQueueMachine,
} from './machines/writer-queue.machine.js';
export { SafeEmitter, sendIfActive } from './safe-emitter.js';
export { openLink } from './transport.js';
export { type Delivery, immediateNetwork, type MemoryNetwork } from './transports/memory.js';
export { defaultSocketDirectory, ensurePrivateDirectory } from './transports/pipe.js';
export { messagePortChannel } from './transports/port.js';
export { parseTcpAddress } from './transports/tcp.js';
export {
  assertCloneable,
  createValueDecoder,
  createValueEncoder,
  findRefused,
  forgetStructures,
  refusedValue,
} from './values.js';
