import type { ByteChannel, ChannelSink } from '../channel.js';
import { AddressInUseError, ConnectError } from '../errors.js';
import type { Link, LinkOptions } from '../link.js';
import { type RandomSource, systemRandom } from '../random.js';
import { type ConnectOptions, Listener, type ListenOptions, openLink, type Transport } from '../transport.js';

/**
 * One thing in flight between the two ends of an in-memory connection. The network decides
 * when (and whether) it arrives.
 */
export interface Delivery {
  /** Identifies the connection; both directions share it. */
  readonly connection: string;
  readonly from: string;
  readonly to: string;
  /** Position in its direction of the connection, from 0. */
  readonly seq: number;
  readonly kind: 'data' | 'end' | 'reset';
  readonly bytes: number;
  /** The bytes of a `data` delivery, as written (read them, never change them). */
  readonly data: Uint8Array | undefined;
  /** Hand it to the receiver. A link is a stream: a delivery that overtakes an earlier one of the
   * same direction is held at the receiver until the earlier one arrives. */
  deliver(): void;
  /** Lose it. A stream cannot skip bytes, so a lost delivery breaks the connection (both ends
   * see a connection failure), as a reset would. */
  drop(): void;
}

/** Decides the fate of every delivery: the hook tests and the simulator use to control order,
 * delay, loss and partitions. */
export interface MemoryNetwork {
  submit(delivery: Delivery): void;
}

/** Delivers everything in order, as soon as the current job yields (a microtask). */
export const immediateNetwork: MemoryNetwork = {
  submit: (delivery) => queueMicrotask(() => delivery.deliver()),
};

export interface MemoryTransportOptions {
  network?: MemoryNetwork;
  /** Bytes in flight per direction above which a write asks the writer to wait. Default 64 KiB. */
  highWaterMark?: number;
  random?: RandomSource;
}

class MemoryEnd implements ByteChannel {
  other!: MemoryEnd;
  #sink: ChannelSink | undefined;
  #paused = false;
  #inbox: Array<Buffer | 'end'> = [];
  #inFlight = 0;
  #needDrain = false;
  #sendSeq = 0;
  #expectSeq = 0;
  #early = new Map<number, () => void>();
  #ended = false;
  #peerEnded = false;
  #closed = false;

  constructor(
    readonly connection: string,
    readonly label: string,
    readonly peer: string,
    private readonly network: MemoryNetwork,
    private readonly highWaterMark: number,
  ) {}

  attach(sink: ChannelSink): void {
    this.#sink = sink;
  }

  write(chunk: Uint8Array, done: (error?: Error | null) => void): boolean {
    if (this.#closed || this.#ended) {
      const error = new Error(this.#closed ? 'write after close' : 'write after end');
      queueMicrotask(() => done(error));
      return false;
    }
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    this.#inFlight += bytes.length;
    this.#submit('data', bytes, () => this.other.#receive(bytes));
    queueMicrotask(() => done(null));
    if (this.#inFlight >= this.highWaterMark) {
      this.#needDrain = true;
      return false;
    }
    return true;
  }

  end(): void {
    if (this.#ended || this.#closed) return;
    this.#ended = true;
    this.#submit('end', undefined, () => this.other.#receiveEnd());
    this.#maybeClose();
  }

  destroy(error?: Error): void {
    if (this.#closed) return;
    this.#submit('reset', undefined, () => this.other.#fail(new Error('connection reset by peer')));
    this.#fail(error);
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    while (!this.#paused && this.#inbox.length > 0 && !this.#closed) {
      const item = this.#inbox.shift()!;
      if (item === 'end') this.#consumeEnd();
      else this.#consume(item);
    }
  }

  #submit(kind: Delivery['kind'], data: Buffer | undefined, apply: () => void): void {
    const seq = this.#sendSeq++;
    const other = this.other;
    let settled = false;
    this.network.submit({
      connection: this.connection,
      from: this.label,
      to: this.peer,
      seq,
      kind,
      bytes: data?.length ?? 0,
      data,
      deliver: () => {
        if (settled) return;
        settled = true;
        other.#arrive(seq, kind, apply);
      },
      drop: () => {
        if (settled) return;
        settled = true;
        const lost = new Error(`a ${kind} delivery from ${this.label} to ${this.peer} was lost`);
        this.#fail(lost);
        other.#fail(lost);
      },
    });
  }

  #arrive(seq: number, kind: Delivery['kind'], apply: () => void): void {
    if (this.#closed) return;
    // A reset overtakes everything, as a TCP RST discards unread data.
    if (kind === 'reset') {
      apply();
      return;
    }
    this.#early.set(seq, apply);
    for (let next = this.#early.get(this.#expectSeq); next; next = this.#early.get(this.#expectSeq)) {
      this.#early.delete(this.#expectSeq);
      this.#expectSeq++;
      next();
    }
  }

  #receive(bytes: Buffer): void {
    if (this.#closed) return;
    if (this.#paused || this.#inbox.length > 0) this.#inbox.push(bytes);
    else this.#consume(bytes);
  }

  #consume(bytes: Buffer): void {
    this.other.#acknowledge(bytes.length);
    this.#sink?.data(bytes);
  }

  #acknowledge(length: number): void {
    this.#inFlight -= length;
    if (this.#needDrain && this.#inFlight < this.highWaterMark && !this.#closed) {
      this.#needDrain = false;
      queueMicrotask(() => {
        if (!this.#closed) this.#sink?.drain();
      });
    }
  }

  #receiveEnd(): void {
    if (this.#closed) return;
    if (this.#paused || this.#inbox.length > 0) this.#inbox.push('end');
    else this.#consumeEnd();
  }

  #consumeEnd(): void {
    this.#peerEnded = true;
    this.#sink?.end();
    this.#maybeClose();
  }

  #maybeClose(): void {
    if (this.#ended && this.#peerEnded) this.#close(undefined);
  }

  #fail(error: Error | undefined): void {
    this.#close(error);
  }

  #close(error: Error | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#inbox = [];
    this.#early.clear();
    queueMicrotask(() => this.#sink?.close(error));
  }
}

/**
 * Links inside one process. Every byte crosses a `MemoryNetwork`, so a test (or the simulator)
 * decides the order, the timing and the failures of every delivery, while the links above run
 * the same framing, handshake and writer code as over a socket.
 */
export class MemoryTransport implements Transport {
  readonly kind = 'memory' as const;
  readonly network: MemoryNetwork;
  readonly #highWaterMark: number;
  readonly #random: RandomSource;
  readonly #listeners = new Map<string, Listener>();
  #connections = 0;

  constructor(options: MemoryTransportOptions = {}) {
    this.network = options.network ?? immediateNetwork;
    this.#highWaterMark = options.highWaterMark ?? 64 * 1024;
    this.#random = options.random ?? systemRandom;
  }

  async listen(options: ListenOptions = {}): Promise<Listener> {
    const name = stripScheme(options.address ?? this.#random.id(10));
    const address = `memory://${name}`;
    if (this.#listeners.has(name)) throw new AddressInUseError(address);
    const listener = new Listener('memory', address, linkOptions(options, this.#random), async () => {
      this.#listeners.delete(name);
    });
    this.#listeners.set(name, listener);
    return listener;
  }

  async connect(address: string, options: ConnectOptions = {}): Promise<Link> {
    options.signal?.throwIfAborted();
    const name = stripScheme(address);
    const listener = this.#listeners.get(name);
    if (!listener) throw new ConnectError(`memory://${name}`, 'no listener at that address');
    const connection = `m${++this.#connections}`;
    const client = new MemoryEnd(
      connection,
      `${connection}:connector`,
      `memory://${name}`,
      this.network,
      this.#highWaterMark,
    );
    const server = new MemoryEnd(
      connection,
      `memory://${name}`,
      `${connection}:connector`,
      this.network,
      this.#highWaterMark,
    );
    client.other = server;
    server.other = client;
    listener.accept(server);
    return openLink(client, linkOptions(options, this.#random));
  }
}

function stripScheme(address: string): string {
  return address.startsWith('memory://') ? address.slice('memory://'.length) : address;
}

function linkOptions(options: LinkOptions, random: RandomSource): LinkOptions {
  return { random, ...options };
}
