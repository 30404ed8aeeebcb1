/**
 * A Buffer packet body is written as a msgpack `bin` by hand, straight into its frame, without
 * msgpackr's intermediate copy; the peer's msgpackr reads it back as a Buffer like any other.
 */

/** Bytes of a Buffer body of `length` bytes as a msgpack `bin`: its header (bin 8, 16 or 32), then the bytes. */
export function binLength(length: number): number {
  return (length < 0x100 ? 2 : length < 0x10000 ? 3 : 5) + length;
}

/** Writes `body` at `at` in `target` as a msgpack `bin` (its length big-endian, as msgpack is). */
export function writeBin(target: Buffer, at: number, body: Uint8Array): void {
  const length = body.length;
  if (length < 0x100) {
    target[at] = 0xc4;
    target[at + 1] = length;
    at += 2;
  } else if (length < 0x10000) {
    target[at] = 0xc5;
    target.writeUInt16BE(length, at + 1);
    at += 3;
  } else {
    target[at] = 0xc6;
    target.writeUInt32BE(length, at + 1);
    at += 5;
  }
  target.set(body, at);
}
