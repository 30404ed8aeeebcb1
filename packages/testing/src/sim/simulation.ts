// Over 400 lines on purpose: the simulated world's one owner of steps. Deliveries, timers, faults
// (crash, hang, partition and heal), the fault budget, the monitors' hooks and what exhaustive
// search needs of a step (its process, whether it commutes) all read and change the same pending
// set in one order; the network's wire reading (network.ts), nodes (nodes.ts) and explorers are not here.
import { MemoryTransport } from '@troupe/transport';
import type { Delivery } from '@troupe/transport/internal';
import { SeededRandom } from '../seeded-random.js';
import { VirtualClock } from '../virtual-clock.js';
import { type PendingDelivery, SimNetwork, type WirePacket } from './network.js';

/** One thing the simulator can do next. */
export interface Step {
  readonly kind: 'deliver' | 'timer' | 'action' | 'fault';
  /** A readable line for the trace: what happens. */
  readonly label: string;
  /** Which actor's step this is (a direction, a timer owner, a fault): what PCT prioritises. */
  readonly chain: string;
  run(): void;
}

/** The faults a scenario allows, and how many a schedule may use. */
export interface FaultBudget {
  /** Faults per schedule, all kinds together. Default 0: no faults. */
  max?: number;
  /** Lose a delivery (which breaks its connection, as a stream cannot skip bytes). */
  drop?: boolean;
  /** Let time pass (fire the earliest timer) while deliveries are in flight: they are late. */
  delay?: boolean;
  /** Kill a node, as SIGKILL would. */
  crash?: boolean;
  /** Freeze a node: it takes no more steps (nothing reaches it, its timers stop). */
  hang?: boolean;
  /**
   * Faults come only in the first `until` steps; then they heal, and the liveness monitors
   * (`hotStates`) demand that the world converges. Default: no such bound (faults stop only when
   * the budget is spent or the script has finished).
   */
  until?: number;
}

export interface Violation {
  readonly monitor: string;
  readonly message: string;
}

/** A line of the trace: a step taken, or a note (a machine's transition, a packet). */
export interface TraceEntry {
  readonly step: number;
  readonly time: number;
  readonly text: string;
}

/** A property checked while a schedule runs. Report a violation with `sim.violate(...)`. */
export interface Monitor {
  readonly name: string;
  /** A packet was written by its sender, or delivered to its receiver. */
  onPacket?(packet: WirePacket, phase: 'written' | 'delivered', sim: Simulation): void;
  /** A connection's direction ended (`end`) or was reset, as its receiver sees it. */
  onClose?(connection: string, from: string, to: string, kind: 'end' | 'reset', sim: Simulation): void;
  /** After every step. */
  afterStep?(sim: Simulation): void;
  /** When the run ends: `finished` says whether the scenario's script completed. */
  atEnd?(sim: Simulation, finished: boolean): void;
}

/** A node the simulator can crash or hang: what a simulated launcher hands out. */
export interface SimulatedNode {
  readonly name: string;
  /** Its listening address on the memory transport (`memory://...`). */
  readonly address: string;
  crash(): void;
  readonly alive: boolean;
}

interface CustomFault {
  readonly label: string;
  readonly enabled: () => boolean;
  readonly apply: () => void;
}

/**
 * One simulated world: a clock whose timers are steps, a network whose deliveries are steps, a
 * seeded random source for everything the world draws, nodes that can crash or hang, monitors,
 * and the trace. Nothing happens until the explorer takes a step; between steps, promise
 * continuations settle (the explorer waits for a macrotask, which runs every microtask first).
 */
export class Simulation {
  readonly clock = new VirtualClock();
  readonly network: SimNetwork = new WatchedNetwork(
    (from) => this.#sentBy(from),
    () => (this.#clean = false),
  );
  readonly random: SeededRandom;
  readonly transport: MemoryTransport;
  readonly trace: TraceEntry[] = [];
  readonly budget: Required<FaultBudget>;
  readonly monitors: Monitor[] = [];
  /** Record every packet and note in the trace (off while exploring, on when replaying). */
  tracing: boolean;
  #steps = 0;
  #faults = 0;
  #faultsStoppedAt: number | undefined;
  #violation: Violation | undefined;
  readonly #nodes = new Map<string, SimulatedNode>();
  readonly #owners = new Map<string, string>();
  readonly #hung = new Set<string>();
  /** Addresses cut off by a partition: what they write and what is written to them waits. */
  readonly #partitioned = new Set<string>();
  readonly #custom: CustomFault[] = [];
  readonly #actions: Array<CustomFault & { done: boolean }> = [];
  /** Per direction, a running hash of the packets written: the wire's share of the state hash. */
  readonly #history = new Map<string, number>();
  /** Whether the scenario's script has finished: no faults are injected after it. */
  finished = false;
  /** Every node shares state with the others (see `Scenario.sharedState`): no two steps commute. */
  readonly #shared: boolean;
  /** The process the step being taken was delivered to (undefined: not a delivery). */
  #actor: string | undefined;
  /** Whether the last step, and what followed it, acted on its receiver alone. */
  #clean = false;
  readonly #footprints: boolean;

  constructor(
    options: {
      seed?: number;
      faults?: FaultBudget;
      tracing?: boolean;
      sharedState?: boolean;
      /**
       * Work out `lastStepClean` and keep the wire's history for `pendingFingerprint` (for
       * exhaustive search; the other strategies skip the cost).
       */
      footprints?: boolean;
    } = {},
  ) {
    this.#shared = options.sharedState ?? false;
    this.#footprints = options.footprints ?? false;
    this.random = new SeededRandom(options.seed ?? 1);
    this.transport = new MemoryTransport({ network: this.network, random: this.random });
    this.tracing = options.tracing ?? false;
    const faults = options.faults ?? {};
    this.budget = {
      max: faults.max ?? 0,
      drop: faults.drop ?? false,
      delay: faults.delay ?? false,
      crash: faults.crash ?? false,
      hang: faults.hang ?? false,
      until: faults.until ?? Number.POSITIVE_INFINITY,
    };
    if (this.budget.max === 0) this.#faultsStoppedAt = 0;
    this.network.onWritten = (packet) => {
      // The wire's share of the state hash: only exhaustive search (footprints) reads it.
      if (this.#footprints) {
        const direction = `${packet.connection} ${packet.from}`;
        this.#history.set(direction, mix(this.#history.get(direction) ?? 0, packetKey(packet)));
      }
      if (this.tracing) this.note(`  ${packet.from} → ${packet.to}: ${describePacket(packet)}`);
      for (const monitor of this.monitors) monitor.onPacket?.(packet, 'written', this);
    };
  }

  /** Steps taken so far. */
  get steps(): number {
    return this.#steps;
  }

  /**
   * The step from which no more faults can come (the budget spent, the fault window past, or the
   * script finished); undefined while one still may.
   */
  get faultsStoppedAt(): number | undefined {
    return this.#faultsStoppedAt;
  }

  /** Faults injected so far. */
  get faults(): number {
    return this.#faults;
  }

  get violation(): Violation | undefined {
    return this.#violation;
  }

  /** Reports a broken property; the first one ends the schedule. */
  violate(monitor: string, message: string): void {
    this.#violation ??= { monitor, message };
    this.note(`VIOLATION (${monitor}): ${message}`);
  }

  /** Adds a line to the trace (kept only while tracing). */
  note(text: string): void {
    if (this.tracing) this.trace.push({ step: this.#steps, time: this.clock.now(), text });
  }

  addMonitor(...monitors: Monitor[]): void {
    this.monitors.push(...monitors);
  }

  /** Registers a node the simulator may crash or hang. */
  addNode(node: SimulatedNode): void {
    this.#nodes.set(node.name, node);
    this.#owners.set(node.address, node.name);
  }

  get nodes(): readonly SimulatedNode[] {
    return [...this.#nodes.values()];
  }

  isHung(name: string): boolean {
    return this.#hung.has(name);
  }

  /**
   * Freezes a node now (what the `hang` fault does), for a scenario's own fault that picks its
   * moment (`addFault`): a node that hangs while it holds work, say.
   */
  hang(name: string): void {
    this.#clean = false;
    this.#hung.add(name);
  }

  /**
   * Cuts `address` (a node's) off the network, for a scenario's own fault: every delivery to or
   * from it waits, neither delivered nor lost, until `heal`. Unlike a hang, both sides go on
   * taking steps (their timers fire, their tasks run), so each may decide the other is gone.
   */
  partition(address: string): void {
    this.#partitioned.add(address);
  }

  /** Ends a partition: what waited is delivered, in order, as the explorer chooses. */
  heal(address: string): void {
    this.#partitioned.delete(address);
  }

  isPartitioned(address: string): boolean {
    return this.#partitioned.has(address);
  }

  /**
   * Something from outside the world that may happen at any point, once (a user cancelling, an
   * operator shutting down): a step the explorer interleaves with the others, not a fault.
   */
  addAction(label: string, apply: () => void, enabled: () => boolean = () => true): void {
    this.#actions.push({ label, apply, enabled, done: false });
  }

  /** A fault of the scenario's own (a lease renewal that fails, say), within the same budget. */
  addFault(label: string, apply: () => void, enabled: () => boolean = () => true): void {
    this.#custom.push({ label, apply, enabled });
  }

  /** Everything that can happen next, in a deterministic order: deliveries, then timers, then faults. */
  enabled(): Step[] {
    const steps: Step[] = [];
    const hung = this.#hung.size > 0;
    const all = this.network.heads();
    const heads =
      hung || this.#partitioned.size > 0
        ? all.filter((head) => !this.#receiverHung(head) && !this.#cut(head))
        : all;
    for (const head of heads) steps.push(this.#deliverStep(head));
    const timers = this.clock.soonest(hung ? (owner) => this.#hung.has(owner) : undefined);
    // Deliveries beat timers: a timer fires only once nothing is in flight (or as a fault).
    if (heads.length === 0) {
      for (const timer of timers) steps.push(this.#timerStep(timer.id, timer.owner, timer.due, ''));
    }
    if (!this.finished) {
      for (const action of this.#actions) {
        if (action.done || !action.enabled()) continue;
        steps.push({
          kind: 'action',
          label: action.label,
          chain: `action ${action.label}`,
          run: () => {
            action.done = true;
            action.apply();
          },
        });
      }
    }
    if (this.finished || this.#faults >= this.budget.max || this.#steps >= this.budget.until) return steps;
    if (this.budget.delay && heads.length > 0 && timers.length > 0) {
      const timer = timers[0]!;
      steps.push(this.#timerStep(timer.id, timer.owner, timer.due, 'fault: '));
    }
    if (this.budget.drop) {
      for (const head of heads) {
        if (head.delivery.kind !== 'data') continue;
        steps.push(new DropStep(this.network, head));
      }
    }
    for (const node of this.#nodes.values()) {
      if (!node.alive || this.#hung.has(node.name)) continue;
      if (this.budget.crash) {
        steps.push(
          this.#faultStep(`fault: crash ${node.name}`, `crash ${node.name}`, () => {
            node.crash();
            this.network.discardTo(node.address);
          }),
        );
      }
      if (this.budget.hang) {
        steps.push(
          this.#faultStep(`fault: hang ${node.name}`, `hang ${node.name}`, () => this.hang(node.name)),
        );
      }
    }
    for (const fault of this.#custom) {
      if (fault.enabled()) steps.push(this.#faultStep(`fault: ${fault.label}`, fault.label, fault.apply));
    }
    return steps;
  }

  /** Takes one step (bookkeeping around `step.run`). */
  take(step: Step): void {
    this.#steps++;
    if (step.kind === 'fault') this.#faults++;
    if (this.#footprints) {
      this.#actor = step instanceof DeliverStep ? this.processOf(step.head.delivery.to) : undefined;
      this.#clean = this.#actor !== undefined;
    }
    if (this.tracing)
      this.trace.push({ step: this.#steps, time: this.clock.now(), text: `#${this.#steps} ${step.label}` });
    step.run();
    if (
      this.#faultsStoppedAt === undefined &&
      (this.finished || this.#faults >= this.budget.max || this.#steps >= this.budget.until)
    )
      this.#faultsStoppedAt = this.#steps;
    for (const monitor of this.monitors) monitor.afterStep?.(this);
  }

  /**
   * The simulated process an address belongs to: a node's name, or `host` for everything else
   * (the runtime, job servers and agents: whatever the scenario runs in its own process). With
   * `sharedState`, one process for all.
   */
  processOf(address: string): string {
    if (this.#shared) return 'world';
    return this.#owners.get(address) ?? 'host';
  }

  /**
   * What partial-order reduction needs of a step that may commute with others: a delivery of
   * data, with a key naming it in every schedule that reaches it (its direction and sequence
   * number) and the process it is delivered to. Undefined for every other step (timers, actions,
   * faults, ends and resets of streams), which the reduction treats as dependent on all.
   */
  commutable(step: Step): { readonly key: string; readonly process: string } | undefined {
    if (!(step instanceof DeliverStep) || step.head.delivery.kind !== 'data') return undefined;
    const { head } = step;
    return { key: `${head.direction}#${head.delivery.seq}`, process: this.processOf(head.delivery.to) };
  }

  /**
   * Whether the last step taken, with every continuation it ran, acted on its receiver alone: a
   * delivery after which nothing was written by another process, nothing was discarded and no
   * node hung. A host that kills a node (its links cut, what was on the way to it discarded) or
   * ends it by calling it in-process, or tasks that share memory across nodes, make a step
   * unclean, and an unclean step commutes with nothing: the reduction checks its own premise.
   */
  get lastStepClean(): boolean {
    return this.#clean;
  }

  #sentBy(from: string): void {
    if (this.#clean && this.processOf(from) !== this.#actor) this.#clean = false;
  }

  /**
   * A fingerprint of what is pending: part of the state hash for exhaustive search. Needs a
   * simulation made with `footprints` (the wire's history is kept only then).
   */
  pendingFingerprint(): string {
    if (!this.#footprints) throw new Error('pendingFingerprint needs a Simulation made with footprints');
    const parts: string[] = [`t${this.clock.now()}`, `f${this.#faults}`, `r${this.random.state}`];
    // Sorted, so that two orders of the same independent steps (which open directions and arm
    // timers in different orders) give the same fingerprint.
    const pending: string[] = [];
    for (const head of this.network.heads()) pending.push(`${head.direction}:${head.delivery.seq}`);
    for (const timer of this.clock.timers()) pending.push(`${timer.owner}@${timer.due}`);
    for (const hung of this.#hung) pending.push(`hung:${hung}`);
    for (const cut of this.#partitioned) pending.push(`cut:${cut}`);
    for (const [direction, hash] of this.#history) pending.push(`${direction}=${hash}`);
    parts.push(...pending.sort());
    return parts.join('|');
  }

  #cut(head: PendingDelivery): boolean {
    return this.#partitioned.has(head.delivery.to) || this.#partitioned.has(head.delivery.from);
  }

  #receiverHung(head: PendingDelivery): boolean {
    const owner = this.#owners.get(head.delivery.to);
    return owner !== undefined && this.#hung.has(owner);
  }

  #deliverStep(head: PendingDelivery): Step {
    return new DeliverStep(this, head);
  }

  #timerStep(id: number, owner: string, due: number, prefix: string): Step {
    return new TimerStep(this.clock, id, owner, due, prefix);
  }

  #faultStep(label: string, chain: string, run: () => void): Step {
    return { kind: 'fault', label, chain, run };
  }
}

/** The simulation's network, telling it who writes and when something is discarded. */
class WatchedNetwork extends SimNetwork {
  constructor(
    readonly onSubmit: (from: string) => void,
    readonly onDiscard: () => void,
  ) {
    super();
  }
  override submit(delivery: Delivery): void {
    this.onSubmit(delivery.from);
    super.submit(delivery);
  }
  override discardTo(to: string): void {
    this.onDiscard();
    super.discardTo(to);
  }
}

// Steps are made for every enabled choice at every step, and most are never taken: their labels
// (for traces) are worked out only when read.

class DeliverStep implements Step {
  readonly kind = 'deliver' as const;
  constructor(
    readonly sim: Simulation,
    readonly head: PendingDelivery,
  ) {}
  get label(): string {
    return `deliver ${describeDelivery(this.head)}`;
  }
  get chain(): string {
    return this.head.direction;
  }
  run(): void {
    const { sim, head } = this;
    sim.network.take(head.direction);
    head.delivery.deliver();
    const { delivery } = head;
    if (delivery.kind !== 'data') {
      for (const monitor of sim.monitors)
        monitor.onClose?.(delivery.connection, delivery.from, delivery.to, delivery.kind, sim);
    }
    for (const packet of head.packets)
      for (const monitor of sim.monitors) monitor.onPacket?.(packet, 'delivered', sim);
  }
}

class DropStep implements Step {
  readonly kind = 'fault' as const;
  constructor(
    readonly network: SimNetwork,
    readonly head: PendingDelivery,
  ) {}
  get label(): string {
    return `fault: drop ${describeDelivery(this.head)}`;
  }
  get chain(): string {
    return `drop ${this.head.direction}`;
  }
  run(): void {
    this.network.take(this.head.direction);
    this.head.delivery.drop();
  }
}

class TimerStep implements Step {
  readonly kind: 'timer' | 'fault';
  constructor(
    readonly clock: VirtualClock,
    readonly id: number,
    readonly owner: string,
    readonly due: number,
    /** '' for a timer that is due; 'fault: ' for one fired early, while deliveries wait. */
    readonly prefix: string,
  ) {
    this.kind = prefix ? 'fault' : 'timer';
  }
  get label(): string {
    return `${this.prefix}timer of ${this.owner} due at ${this.due} ms`;
  }
  get chain(): string {
    return this.prefix ? `delay ${this.owner}` : `timer ${this.owner}`;
  }
  run(): void {
    this.clock.fire(this.id);
  }
}

function describeDelivery(head: PendingDelivery): string {
  const { delivery } = head;
  const what =
    delivery.kind !== 'data'
      ? delivery.kind
      : head.packets.length > 0
        ? head.packets.map((packet) => packet.name).join(', ')
        : `${delivery.bytes} B`;
  return `${delivery.from} → ${delivery.to} #${delivery.seq} (${what})`;
}

/** A packet in a trace line: its name and the fields that identify what it is about. */
export function describePacket(packet: WirePacket): string {
  const body = packet.body as Record<string, unknown> | undefined;
  if (!body || typeof body !== 'object') return packet.name;
  const keys = ['id', 'requestId', 'jobId', 'task', 'reason', 'kind', 'prepareForReuse', 'ok'];
  const fields = keys
    .filter((key) => body[key] !== undefined)
    .map((key) => `${key}=${typeof body[key] === 'string' ? body[key] : JSON.stringify(body[key])}`);
  return fields.length > 0 ? `${packet.name} {${fields.join(', ')}}` : packet.name;
}

function packetKey(packet: WirePacket): string {
  const body = packet.body as Record<string, unknown> | undefined;
  const id = body && typeof body === 'object' ? (body.id ?? body.requestId ?? body.jobId ?? '') : '';
  return `${packet.name}:${String(id)}`;
}

/** FNV-1a over a string, folded into a running hash. */
function mix(hash: number, text: string): number {
  let h = (hash ^ 0x811c9dc5) >>> 0;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
