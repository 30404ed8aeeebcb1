import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { userInfo } from 'node:os';
import { AuthenticationError, HandshakeMismatchError, InvalidOptionError } from './errors.js';
import type { RandomSource } from './random.js';
import { PROTOCOL_VERSION, RUNTIME_VERSION } from './version.js';

/**
 * The handshake block both ends send as their first bytes. Its layout is frozen across protocol
 * versions so that two different versions can still read each other's block and name the
 * component that differs (see docs/protocol.md):
 *
 *   0  magic            4 bytes  "TRPE"
 *   4  protocol version u16 LE
 *   6  runtime version  3 x u16 LE (major, minor, patch)
 *  12  flags            u32 LE   (bit 0 node reuse, 1 low priority, 2 task host, 3 authenticated)
 *  16  salt             16 bytes (per user, and per session where asked)
 *  32  end marker       4 bytes  "HSOK"
 */
export const HANDSHAKE_LENGTH = 36;
const MAGIC = Buffer.from('TRPE', 'latin1');
const END_MARKER = Buffer.from('HSOK', 'latin1');
export const SALT_LENGTH = 16;
export const NONCE_LENGTH = 32;
export const PROOF_LENGTH = 32;

const FLAG_BITS = { nodeReuse: 1, lowPriority: 2, taskHost: 4, authenticated: 8 } as const;
export type HandshakeFlag = keyof typeof FLAG_BITS;

export interface HandshakeOptions {
  protocolVersion?: number;
  /** `major.minor.patch`; defaults to this troupe's version. */
  runtimeVersion?: string;
  nodeReuse?: boolean;
  lowPriority?: boolean;
  taskHost?: boolean;
  /** Mixed into the salt so that only peers of the same session match. */
  session?: string;
  /** An explicit 16-byte salt; overrides the per-user (and per-session) one. */
  salt?: Uint8Array;
}

export interface Handshake {
  readonly protocolVersion: number;
  readonly runtimeVersion: string;
  readonly flags: Readonly<Record<HandshakeFlag, boolean>>;
  readonly salt: Uint8Array;
}

const salts = new Map<string | undefined, Uint8Array>();

/** Salt that differs per user: nodes of one user never answer another user's host. */
export function userSalt(session?: string): Uint8Array {
  // Every link computes its handshake; the user does not change within a process.
  let salt = salts.get(session);
  if (!salt) {
    const user = userInfo();
    const hash = createHash('sha256').update(`troupe\0${user.uid}\0${user.username}`);
    if (session !== undefined) hash.update(`\0session\0${session}`);
    salt = new Uint8Array(hash.digest().subarray(0, SALT_LENGTH));
    if (salts.size < 64) salts.set(session, salt);
  }
  return new Uint8Array(salt);
}

/**
 * The salt of a handshake over a network (TCP): the same for every user on every machine (per
 * session where asked). On a pipe, the per-user salt keeps one user's host from another's nodes;
 * across a network the secret or the client certificate does that, and a per-user salt would only
 * refuse a host whose user is not the node's (ssh to another account, a pod running as root).
 */
export function networkSalt(session?: string): Uint8Array {
  const hash = createHash('sha256').update('troupe\0tcp');
  if (session !== undefined) hash.update(`\0session\0${session}`);
  return new Uint8Array(hash.digest().subarray(0, SALT_LENGTH));
}

export function createHandshake(options: HandshakeOptions = {}, authenticated = false): Handshake {
  const runtimeVersion = options.runtimeVersion ?? RUNTIME_VERSION;
  parseVersion(runtimeVersion);
  const protocolVersion = options.protocolVersion ?? PROTOCOL_VERSION;
  if (!Number.isInteger(protocolVersion) || protocolVersion < 0 || protocolVersion > 0xffff) {
    throw new InvalidOptionError('handshake.protocolVersion', 'an integer from 0 to 65535', protocolVersion);
  }
  const salt = options.salt ?? userSalt(options.session);
  if (salt.length !== SALT_LENGTH) {
    throw new InvalidOptionError('handshake.salt', `${SALT_LENGTH} bytes`, `${salt.length} bytes`);
  }
  return {
    protocolVersion,
    runtimeVersion,
    flags: {
      nodeReuse: options.nodeReuse ?? false,
      lowPriority: options.lowPriority ?? false,
      taskHost: options.taskHost ?? false,
      authenticated,
    },
    salt,
  };
}

function parseVersion(version: string): [number, number, number] {
  const match = /^(\d+)\.(\d+)\.(\d+)$/.exec(version);
  const parts = match ? [Number(match[1]), Number(match[2]), Number(match[3])] : [];
  if (parts.length !== 3 || parts.some((n) => n > 0xffff)) {
    throw new InvalidOptionError(
      'handshake.runtimeVersion',
      'major.minor.patch with parts up to 65535',
      version,
    );
  }
  return parts as [number, number, number];
}

export function encodeHandshake(handshake: Handshake): Buffer {
  const block = Buffer.alloc(HANDSHAKE_LENGTH);
  MAGIC.copy(block, 0);
  block.writeUInt16LE(handshake.protocolVersion, 4);
  const [major, minor, patch] = parseVersion(handshake.runtimeVersion);
  block.writeUInt16LE(major, 6);
  block.writeUInt16LE(minor, 8);
  block.writeUInt16LE(patch, 10);
  let flags = 0;
  for (const [name, bit] of Object.entries(FLAG_BITS)) {
    if (handshake.flags[name as HandshakeFlag]) flags |= bit;
  }
  block.writeUInt32LE(flags, 12);
  block.set(handshake.salt, 16);
  END_MARKER.copy(block, 32);
  return block;
}

/**
 * Reads a handshake block back (for example a registry record's), so a tool can speak to a node
 * with exactly the handshake it expects. Throws `InvalidOptionError` for a block that is not one.
 */
export function decodeHandshake(block: Uint8Array): Handshake {
  const bytes = Buffer.from(block.buffer, block.byteOffset, block.length);
  if (
    bytes.length !== HANDSHAKE_LENGTH ||
    !bytes.subarray(0, 4).equals(MAGIC) ||
    !bytes.subarray(32, 36).equals(END_MARKER)
  ) {
    throw new InvalidOptionError(
      'handshake block',
      `${HANDSHAKE_LENGTH} bytes starting TRPE and ending HSOK`,
      `${bytes.length} bytes`,
    );
  }
  const bits = bytes.readUInt32LE(12);
  const flags = Object.fromEntries(
    Object.entries(FLAG_BITS).map(([name, bit]) => [name, (bits & bit) !== 0]),
  ) as Record<HandshakeFlag, boolean>;
  return {
    protocolVersion: bytes.readUInt16LE(4),
    runtimeVersion: `${bytes.readUInt16LE(6)}.${bytes.readUInt16LE(8)}.${bytes.readUInt16LE(10)}`,
    flags,
    salt: new Uint8Array(bytes.subarray(16, 32)),
  };
}

/**
 * Bytes one end sends after its handshake block `block` and before its first frame: its side of
 * the authentication exchange (a nonce, then a proof) when the block's authenticated flag is set,
 * else none. For a reader of the raw stream (the simulator's wire tap) skipping to the frames; it
 * reads only the flags, so it answers for a block that would fail the handshake too.
 */
export function handshakeExtraBytes(block: Uint8Array): number {
  const flags = Buffer.from(block.buffer, block.byteOffset, block.length).readUInt32LE(12);
  return flags & FLAG_BITS.authenticated ? NONCE_LENGTH + PROOF_LENGTH : 0;
}

function describeFlags(bits: number): string {
  const names = Object.entries(FLAG_BITS)
    .filter(([, bit]) => bits & bit)
    .map(([name]) => name);
  const unknown = bits & ~Object.values(FLAG_BITS).reduce((a, b) => a | b, 0);
  if (unknown) names.push(`0x${unknown.toString(16)}`);
  return names.length ? `[${names.join(', ')}]` : '[none]';
}

/**
 * Compares the peer's block with ours, component by component, in an order that reports the
 * most fundamental disagreement first (not troupe at all, then the wire protocol, ...).
 */
export function verifyHandshake(local: Buffer, remote: Buffer): HandshakeMismatchError | undefined {
  if (local.equals(remote)) return undefined;
  const components: Array<[string, number, number, (b: Buffer) => string]> = [
    ['magic', 0, 4, (b) => JSON.stringify(b.subarray(0, 4).toString('latin1'))],
    ['protocol version', 4, 6, (b) => String(b.readUInt16LE(4))],
    ['end marker', 32, 36, (b) => JSON.stringify(b.subarray(32, 36).toString('latin1'))],
    ['runtime version', 6, 12, (b) => `${b.readUInt16LE(6)}.${b.readUInt16LE(8)}.${b.readUInt16LE(10)}`],
    ['flags', 12, 16, (b) => describeFlags(b.readUInt32LE(12))],
    ['salt', 16, 32, (b) => b.subarray(16, 32).toString('hex')],
  ];
  for (const [component, start, end, show] of components) {
    if (!local.subarray(start, end).equals(remote.subarray(start, end))) {
      return new HandshakeMismatchError(component, show(local), show(remote));
    }
  }
  return undefined;
}

/** Bytes in, bytes out, during the preamble: before frames flow. */
export interface PreambleIO {
  write(bytes: Uint8Array): void;
  read(length: number): Promise<Buffer>;
}

export type Role = 'connector' | 'listener';

/**
 * Runs the handshake, and when a secret is configured the mutual authentication after it.
 *
 * Authentication is challenge and response: each end sends a fresh nonce, then proves it knows
 * the secret with HMAC-SHA256(secret, role label, the peer's nonce, its own nonce). The role label
 * stops a proof from being reflected back, fresh nonces stop replay, and the secret never crosses
 * the wire. Proofs are compared in constant time.
 */
export async function exchangeHandshake(
  io: PreambleIO,
  local: Handshake,
  role: Role,
  secret: Uint8Array | string | undefined,
  random: RandomSource,
  onStage: (stage: string) => void = () => {},
): Promise<void> {
  const block = encodeHandshake(local);
  onStage('handshake');
  io.write(block);
  const remote = await io.read(HANDSHAKE_LENGTH);
  const mismatch = verifyHandshake(block, remote);
  if (mismatch) throw mismatch;
  if (!local.flags.authenticated) return;
  if (secret === undefined) throw new AuthenticationError('authenticated handshake without a secret');

  onStage('authentication');
  const ownNonce = random.bytes(NONCE_LENGTH);
  io.write(ownNonce);
  const peerNonce = await io.read(NONCE_LENGTH);
  io.write(authProof(secret, role, peerNonce, ownNonce));
  const peerRole: Role = role === 'connector' ? 'listener' : 'connector';
  const expected = authProof(secret, peerRole, ownNonce, peerNonce);
  const received = await io.read(PROOF_LENGTH);
  if (!timingSafeEqual(expected, received)) {
    throw new AuthenticationError(`the ${peerRole} could not prove it knows the shared secret`);
  }
}

export function authProof(
  secret: Uint8Array | string,
  role: Role,
  peerNonce: Uint8Array,
  ownNonce: Uint8Array,
) {
  return createHmac('sha256', secret)
    .update(`troupe-auth-v1 ${role}`)
    .update(peerNonce)
    .update(ownNonce)
    .digest();
}

/** A short human summary, e.g. for `troupe nodes list`. */
export function describeHandshake(handshake: Handshake): string {
  const flags = describeFlags(
    Object.entries(FLAG_BITS).reduce(
      (acc, [name, bit]) => (handshake.flags[name as HandshakeFlag] ? acc | bit : acc),
      0,
    ),
  );
  return `protocol ${handshake.protocolVersion}, runtime ${handshake.runtimeVersion}, flags ${flags}, salt ${Buffer.from(handshake.salt).toString('hex').slice(0, 8)}`;
}
