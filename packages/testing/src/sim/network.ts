import { PacketType } from '@troupe/core/internal';
import {
  type Delivery,
  FrameDecoder,
  HANDSHAKE_LENGTH,
  handshakeExtraBytes,
  type MemoryNetwork,
} from '@troupe/transport/internal';
import { Unpackr } from 'msgpackr';

/** A packet seen on the simulated wire. */
export interface WirePacket {
  readonly connection: string;
  readonly from: string;
  readonly to: string;
  readonly type: number;
  /** The node protocol's name for the type, or `type-N`. */
  readonly name: string;
  readonly body: unknown;
}

/** A delivery waiting for the simulator, with the packets it completes (decoded when written). */
export interface PendingDelivery {
  readonly delivery: Delivery;
  readonly direction: string;
  readonly packets: readonly WirePacket[];
}

const names = new Map<number, string>(Object.entries(PacketType).map(([name, type]) => [type, name]));

/**
 * Reads one direction of a connection as its receiver will: the handshake block (and the
 * authentication exchange when its flag is set), then frames, each body a msgpack value decoded
 * with the same sequential record structures the link uses. What the monitors watch.
 */
class WireReader {
  #skip = HANDSHAKE_LENGTH;
  #handshake: Buffer[] = [];
  #seen = 0;
  readonly #unpackr = new Unpackr({ sequential: true });
  readonly #decoder: FrameDecoder;
  #out: WirePacket[] = [];
  #broken = false;

  constructor(
    readonly connection: string,
    readonly from: string,
    readonly to: string,
  ) {
    this.#decoder = new FrameDecoder((type, source, start, end) => {
      let value: unknown;
      try {
        value = this.#unpackr.unpack(source, { start, end });
      } catch {
        value = undefined;
      }
      this.#out.push({ connection, from, to, type, name: names.get(type) ?? `type-${type}`, body: value });
    });
  }

  read(data: Uint8Array): WirePacket[] {
    if (this.#broken) return [];
    let chunk = Buffer.from(data.buffer, data.byteOffset, data.length);
    if (this.#skip > 0) {
      const take = Math.min(this.#skip, chunk.length);
      if (this.#seen < HANDSHAKE_LENGTH) this.#handshake.push(chunk.subarray(0, take));
      this.#seen += take;
      this.#skip -= take;
      chunk = chunk.subarray(take);
      if (this.#seen === HANDSHAKE_LENGTH && this.#skip === 0 && this.#handshake.length > 0) {
        const block = Buffer.concat(this.#handshake);
        this.#handshake = [];
        // The authentication exchange, when the block asks for one, comes before the frames.
        this.#skip = handshakeExtraBytes(block);
        const more = Math.min(this.#skip, chunk.length);
        this.#skip -= more;
        chunk = chunk.subarray(more);
      }
    }
    if (chunk.length === 0) return [];
    try {
      this.#decoder.push(chunk);
    } catch {
      // Garbage on the wire: the link will close on it; the tap stops reading this direction.
      this.#broken = true;
    }
    const out = this.#out;
    this.#out = [];
    return out;
  }
}

/**
 * The simulator's network: every delivery waits, in a queue per direction, until the simulator
 * delivers or drops it. Directions are kept in the order they first carried something, so the
 * list of enabled steps is the same in every replay.
 */
export class SimNetwork implements MemoryNetwork {
  readonly #queues = new Map<string, PendingDelivery[]>();
  readonly #readers = new Map<string, WireReader>();
  /** Called for each packet as it is written. */
  onWritten: (packet: WirePacket) => void = () => {};

  submit(delivery: Delivery): void {
    const direction = `${delivery.connection} ${delivery.from}`;
    let reader = this.#readers.get(direction);
    if (!reader) {
      reader = new WireReader(delivery.connection, delivery.from, delivery.to);
      this.#readers.set(direction, reader);
    }
    const packets = delivery.kind === 'data' && delivery.data ? reader.read(delivery.data) : [];
    for (const packet of packets) this.onWritten(packet);
    let queue = this.#queues.get(direction);
    if (!queue) {
      queue = [];
      this.#queues.set(direction, queue);
    }
    queue.push({ delivery, direction, packets });
  }

  /** The first waiting delivery of each direction, in direction order. */
  heads(): PendingDelivery[] {
    const heads: PendingDelivery[] = [];
    for (const queue of this.#queues.values()) if (queue.length > 0) heads.push(queue[0]!);
    return heads;
  }

  /** Every waiting delivery. */
  get pending(): number {
    let count = 0;
    for (const queue of this.#queues.values()) count += queue.length;
    return count;
  }

  /** Takes the head of a direction off its queue (to deliver or drop it). */
  take(direction: string): PendingDelivery | undefined {
    return this.#queues.get(direction)?.shift();
  }

  /** Drops everything waiting to reach `to` (its receiver is gone). */
  discardTo(to: string): void {
    for (const queue of this.#queues.values()) {
      for (let i = queue.length - 1; i >= 0; i--) if (queue[i]!.delivery.to === to) queue.splice(i, 1);
    }
  }
}
