// A TCP proxy that injects network faults between a host and a node, for tests: the real
// implementation, on node:net and real timers. This kernel has no netem queueing discipline, so
// delay, stalls and slow links come from here. npm's TCP proxies forward faithfully and no more,
// its rate limiters (throttle, stream-throttle) do one of the four faults, and Toxiproxy is a
// server of its own in Go: none fits, so this is a small one of our own.
//
// Bounded in count and time, so a test that forgets it cannot leave it serving: at most
// `maxConnections` at once (more are refused), a `lifetimeMs` after which it closes everything,
// at most `MAX_BUFFERED` bytes held per direction (the reading side pauses past it), and fault
// durations capped at a minute.
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';

/** What the proxy does to the bytes it forwards, in both directions, from the moment it is set. */
export type Fault =
  /** Forward at once. */
  | { kind: 'none' }
  /** Forward each chunk `ms` after it arrived (latency, not a limit on throughput). */
  | { kind: 'delay'; ms: number }
  /** Forward nothing for `ms` from now (a frozen route), then everything held, in order. */
  | { kind: 'stall'; ms: number }
  /** Forward at most `bytesPerSecond` in each direction of each connection (a thin link). */
  | { kind: 'trickle'; bytesPerSecond: number }
  /**
   * Forward `afterBytes` more bytes (both directions counted together), then destroy both sides of
   * that connection mid-stream: a frame cut in half. One shot: the fault is `none` afterwards.
   */
  | { kind: 'cut'; afterBytes: number };

export interface FaultProxyOptions {
  /** Where connections go: `tcp://host:port`. */
  target: string;
  /** The address to listen on. Default 127.0.0.1, a free port. */
  host?: string;
  /** Connections at once; more are refused (closed at once). Default 16. */
  maxConnections?: number;
  /** Closes everything this long after it started. Default 300000 (5 minutes). */
  lifetimeMs?: number;
}

const MAX_FAULT_MS = 60_000;
const MAX_BUFFERED = 4 * 1024 * 1024;
/** A trickle sends a slice every this many ms. */
const TRICKLE_TICK_MS = 50;

export class FaultProxy {
  readonly #server: Server;
  readonly #target: { host: string; port: number };
  readonly #maxConnections: number;
  readonly #connections = new Set<Connection>();
  readonly #lifetime: NodeJS.Timeout;
  #fault: Fault = { kind: 'none' };
  #stallUntil = 0;
  #cutRemaining = 0;
  #closed = false;
  #accepted = 0;
  #refused = 0;
  #cuts = 0;
  #address = '';

  private constructor(server: Server, options: FaultProxyOptions) {
    this.#server = server;
    const match = /^tcp:\/\/([^:/]+):(\d+)$/.exec(options.target);
    if (!match) throw new Error(`FaultProxy target must be tcp://host:port, not ${options.target}`);
    this.#target = { host: match[1]!, port: Number(match[2]) };
    this.#maxConnections = options.maxConnections ?? 16;
    this.#lifetime = setTimeout(() => void this.close(), options.lifetimeMs ?? 300_000);
    this.#lifetime.unref();
    server.on('connection', (socket) => this.#accept(socket));
  }

  /** Starts listening; `address` is where to connect instead of the target. */
  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const server = createServer({ allowHalfOpen: true, noDelay: true });
    const proxy = new FaultProxy(server, options);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const bound = server.address();
    if (!bound || typeof bound !== 'object') throw new Error('FaultProxy: the server has no address');
    proxy.#address = `tcp://${bound.address}:${bound.port}`;
    return proxy;
  }

  /** `tcp://host:port` of the proxy. */
  get address(): string {
    return this.#address;
  }

  /** What has happened so far. */
  get stats(): { accepted: number; refused: number; open: number; cuts: number; held: number } {
    let held = 0;
    for (const connection of this.#connections) held += connection.held;
    return {
      accepted: this.#accepted,
      refused: this.#refused,
      open: this.#connections.size,
      cuts: this.#cuts,
      held,
    };
  }

  get fault(): Fault {
    return this.#fault;
  }

  /** Applies `fault` to every connection, open and future, from now on. */
  set(fault: Fault): void {
    const ms = 'ms' in fault ? fault.ms : 0;
    if (!(ms >= 0 && ms <= MAX_FAULT_MS))
      throw new Error(`fault durations are 0 to ${MAX_FAULT_MS} ms, not ${ms}`);
    if (fault.kind === 'trickle' && !(fault.bytesPerSecond >= 1))
      throw new Error(`a trickle needs at least 1 byte per second, not ${fault.bytesPerSecond}`);
    if (fault.kind === 'cut' && !(Number.isInteger(fault.afterBytes) && fault.afterBytes >= 0))
      throw new Error(`a cut comes after a whole number of bytes, not ${fault.afterBytes}`);
    this.#fault = fault;
    this.#stallUntil = fault.kind === 'stall' ? Date.now() + fault.ms : 0;
    this.#cutRemaining = fault.kind === 'cut' ? fault.afterBytes : 0;
    for (const connection of this.#connections) connection.wake();
  }

  /** Closes the listener and destroys every connection. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#lifetime);
    for (const connection of this.#connections) connection.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    if (this.#closed || this.#connections.size >= this.#maxConnections) {
      this.#refused++;
      client.destroy();
      return;
    }
    this.#accepted++;
    const server = netConnect({ ...this.#target, allowHalfOpen: true, noDelay: true });
    const connection = new Connection(client, server, {
      fault: () => this.#fault,
      stallUntil: () => this.#stallUntil,
      take: (bytes) => this.#take(bytes),
      cut: () => {
        this.#cuts++;
        this.#fault = { kind: 'none' };
      },
      closed: () => this.#connections.delete(connection),
    });
    this.#connections.add(connection);
  }

  /** How many of `bytes` may pass before a pending cut; all of them when none is pending. */
  #take(bytes: number): number {
    if (this.#fault.kind !== 'cut') return bytes;
    const allowed = Math.min(bytes, this.#cutRemaining);
    this.#cutRemaining -= allowed;
    return allowed;
  }
}

interface Rules {
  fault(): Fault;
  stallUntil(): number;
  take(bytes: number): number;
  cut(): void;
  closed(): void;
}

/**
 * One proxied connection: two directions, each a queue drained by one loop. It ends when both
 * directions have ended (each side said FIN and all it sent was delivered), or at once when either
 * socket fails, or on a cut.
 */
class Connection {
  readonly #directions: [Direction, Direction];
  readonly #sockets: [Socket, Socket];
  readonly #rules: Rules;
  #destroyed = false;

  constructor(client: Socket, server: Socket, rules: Rules) {
    this.#rules = rules;
    this.#sockets = [client, server];
    const onCut = () => {
      rules.cut();
      this.destroy();
    };
    const onDone = () => {
      if (this.#directions.every((direction) => direction.done)) this.destroy();
    };
    this.#directions = [
      new Direction(client, server, rules, onCut, onDone),
      new Direction(server, client, rules, onCut, onDone),
    ];
    client.on('error', () => this.destroy());
    server.on('error', () => this.destroy());
    // A socket closed for good takes nothing more: what was still to be written to it is dropped.
    client.on('close', () => this.#directions[1].stop());
    server.on('close', () => this.#directions[0].stop());
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const direction of this.#directions) direction.stop();
    for (const socket of this.#sockets) socket.destroy();
    this.#rules.closed();
  }

  wake(): void {
    for (const direction of this.#directions) direction.wake();
  }

  /** Bytes read from either side and not yet passed on. */
  get held(): number {
    return this.#directions[0].buffered + this.#directions[1].buffered;
  }
}

/** Bytes from one socket to the other, held back as the fault says. */
class Direction {
  readonly #queue: Array<{ chunk: Buffer; at: number }> = [];
  #buffered = 0;
  #ended = false;
  #stopped = false;
  #draining = false;
  #wake: (() => void) | undefined;
  readonly #from: Socket;
  readonly #to: Socket;
  readonly #rules: Rules;
  readonly #onCut: () => void;
  readonly #onDone: () => void;
  /** Finished: its end passed on after everything before it, or stopped. */
  done = false;

  constructor(from: Socket, to: Socket, rules: Rules, onCut: () => void, onDone: () => void) {
    this.#from = from;
    this.#to = to;
    this.#rules = rules;
    this.#onCut = onCut;
    this.#onDone = onDone;
    from.on('data', (chunk: Buffer) => {
      this.#queue.push({ chunk, at: Date.now() });
      this.#buffered += chunk.length;
      if (this.#buffered > MAX_BUFFERED) from.pause();
      void this.#drain();
    });
    from.on('end', () => {
      this.#ended = true;
      void this.#drain();
    });
  }

  get buffered(): number {
    return this.#buffered;
  }

  stop(): void {
    this.#stopped = true;
    this.wake();
    this.#finish();
  }

  #finish(): void {
    if (this.done) return;
    this.done = true;
    this.#onDone();
  }

  /** The fault changed: a wait for the old one ends now and the loop looks again. */
  wake(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async #drain(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    try {
      while (!this.#stopped && this.#queue.length > 0) {
        const head = this.#queue[0]!;
        const wait = this.#waitFor(head.at);
        if (wait > 0) {
          await this.#sleep(wait);
          continue;
        }
        const fault = this.#rules.fault();
        const slice =
          fault.kind === 'trickle'
            ? Math.max(1, Math.floor((fault.bytesPerSecond * TRICKLE_TICK_MS) / 1000))
            : head.chunk.length;
        const want = Math.min(slice, head.chunk.length);
        const allowed = this.#rules.take(want);
        const part = head.chunk.subarray(0, allowed);
        if (allowed < want) {
          // The bytes before the cut reach the kernel first, then both sides go.
          if (part.length > 0) await new Promise<void>((resolve) => this.#to.write(part, () => resolve()));
          this.#onCut();
          return;
        }
        if (part.length > 0 && !this.#to.write(part)) await this.#drained();
        if (allowed === head.chunk.length) this.#queue.shift();
        else head.chunk = head.chunk.subarray(allowed);
        this.#buffered -= allowed;
        if (this.#buffered <= MAX_BUFFERED && this.#from.isPaused()) this.#from.resume();
        if (fault.kind === 'trickle') await this.#sleep(TRICKLE_TICK_MS);
      }
      if (!this.#stopped && this.#ended && this.#queue.length === 0) {
        this.#to.end();
        this.#finish();
      }
    } finally {
      this.#draining = false;
    }
  }

  /** How long the chunk that arrived at `at` must still wait. */
  #waitFor(at: number): number {
    const fault = this.#rules.fault();
    const now = Date.now();
    if (fault.kind === 'stall') return Math.max(0, this.#rules.stallUntil() - now);
    if (fault.kind === 'delay') return Math.max(0, at + fault.ms - now);
    return 0;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  #drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.#to.off('drain', done);
        this.#to.off('close', done);
        resolve();
      };
      this.#to.once('drain', done);
      this.#to.once('close', done);
    });
  }
}
