// The dashboard's model of a run: what the runtime and the job dispatcher already announce
// (request transitions, node contexts' machine states, slot machine states, results), kept as the
// latest state of each thing plus the changes since the last batch. Every list is bounded: a run
// of a million requests keeps a few thousand views, and changes a batch cannot hold become a
// fresh snapshot instead. It reaches time only through the owner's injected clock.
import type { Clock, TimerId } from '@troupe/transport';
import type { NodeContext } from '../nodes/context.js';
import { FINISHED, type RequestState, type ScheduledRequest } from '../scheduler/request.js';
import type { Chart } from './charts.js';
import { activePaths } from './charts.js';
import type {
  DashboardBatch,
  DashboardChange,
  DashboardSnapshot,
  JobView,
  NodeView,
  RequestView,
  SlotView,
  SpanView,
} from './view.js';

export interface FeedLimits {
  /** Finished requests kept for the list (the counts keep every one). Default 300. */
  finished: number;
  /** Unfinished requests sent in a snapshot. Default 300. */
  unfinished: number;
  /** Finished spans kept for the timeline. Default 3000. */
  spans: number;
  /** Finished jobs kept. Default 200. */
  jobs: number;
  /** Changes held for the next batch; past it, subscribers get a snapshot instead. Default 5000. */
  pending: number;
  /** How often changes go out (and the writer queues are looked at), ms. Default 100. */
  batchMs: number;
}

const DEFAULT_LIMITS: FeedLimits = {
  finished: 300,
  unfinished: 300,
  spans: 3000,
  jobs: 200,
  pending: 5000,
  batchMs: 100,
};

/** What a subscriber hears: a batch of changes, or `'resync'` when it should take a snapshot. */
export type FeedListener = (batch: DashboardBatch | 'resync') => void;

/** A view the feed updates in place: it is read (serialized) only when a batch or snapshot goes out. */
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

interface WatchedNode {
  readonly context: NodeContext;
  view: NodeView;
  readonly detach: () => void;
}

/** A run as the dashboard shows it: snapshots on demand, batches of changes to subscribers. */
export class DashboardFeed {
  readonly #clock: Clock;
  readonly #origin: number;
  readonly #title: string;
  readonly #charts: Readonly<Record<string, Chart>>;
  readonly #limits: FeedLimits;
  readonly #nodes = new Map<string, WatchedNode>();
  readonly #unfinished = new Map<string, Mutable<RequestView>>();
  /** Oldest first: the first key is the one to drop. */
  readonly #finished = new Map<string, Mutable<RequestView>>();
  readonly #counts: Record<string, number> = {};
  readonly #openSpans = new Map<string, Mutable<SpanView>>();
  readonly #spans: SpanView[] = [];
  readonly #slots = new Map<number, SlotView>();
  readonly #slotSpans = new Map<number, SpanView>();
  readonly #jobs: JobView[] = [];
  /** The latest change of each node, slot and job since the last batch, by what it changes (`node:a`…). */
  readonly #pending = new Map<string, DashboardChange>();
  /**
   * Requests and spans changed since the last batch. They change on every request's path, so a
   * change costs a set insertion; their views are read when the batch goes out.
   */
  readonly #dirtyRequests = new Set<string>();
  readonly #dirtySpans = new Set<SpanView>();
  #overflowed = false;
  readonly #listeners = new Set<FeedListener>();
  #timer: TimerId | undefined;
  #ended = false;

  constructor(
    clock: Clock,
    title: string,
    charts: Readonly<Record<string, Chart>>,
    limits: Partial<FeedLimits> = {},
  ) {
    this.#clock = clock;
    this.#origin = clock.now();
    this.#title = title;
    this.#charts = charts;
    this.#limits = { ...DEFAULT_LIMITS, ...limits };
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** A node context exists (a provider's `created`): watched from its launch. */
  readonly nodeCreated = (node: NodeContext, how: 'launched' | 'reused'): void => {
    this.#watch(node, how);
  };

  /** A node joined its host; one not announced as created is watched from here. */
  nodeAdopted(node: NodeContext): void {
    if (!this.#nodes.has(node.id)) this.#watch(node, 'adopted');
  }

  /** A request changed state (the scheduler's `transition` event). */
  request(request: ScheduledRequest, from: RequestState | 'new', to: RequestState): void {
    const now = this.#now();
    const id = request.id;
    if (from !== 'new') this.#counts[from] = (this.#counts[from] ?? 1) - 1;
    this.#counts[to] = (this.#counts[to] ?? 0) + 1;
    let view = this.#unfinished.get(id);
    if (view) {
      view.state = to;
      view.node = request.node ?? null;
      view.since = now;
    } else {
      view = { id, task: taskName(request.spec.task), state: to, node: request.node ?? null, since: now };
      this.#unfinished.set(id, view);
    }
    if (from === 'executing') {
      const open = this.#openSpans.get(id);
      if (open) {
        this.#openSpans.delete(id);
        open.end = now;
        open.outcome = to;
        this.#finishSpan(open);
      }
    }
    if (to === 'executing' && request.node !== undefined) {
      const span: SpanView = {
        id,
        lane: request.node,
        label: view.task,
        start: now,
        end: null,
        outcome: null,
      };
      this.#openSpans.set(id, span);
      this.#touch(this.#dirtySpans, span);
    }
    if (FINISHED.has(to)) {
      this.#unfinished.delete(id);
      this.#finished.set(id, view);
      if (this.#finished.size > this.#limits.finished)
        this.#finished.delete(this.#finished.keys().next().value!);
    }
    this.#touch(this.#dirtyRequests, id);
  }

  /** A dispatcher slot's machine moved (the dispatcher's `state` event). */
  slotState(slot: number, state: unknown, jobId: string | undefined): void {
    const now = this.#now();
    const view: SlotView = { slot, states: activePaths(state), job: jobId ?? null };
    this.#slots.set(slot, view);
    this.#change(`slot:${slot}`, { type: 'slot', slot: view });
    const open = this.#slotSpans.get(slot);
    if (open && open.id !== jobId) {
      this.#slotSpans.delete(slot);
      this.#finishSpan({ ...open, end: now, outcome: open.outcome ?? 'done' });
    }
    if (jobId !== undefined && this.#slotSpans.get(slot)?.id !== jobId) {
      const span: SpanView = {
        id: jobId,
        lane: `slot ${slot}`,
        label: jobId,
        start: now,
        end: null,
        outcome: null,
      };
      this.#slotSpans.set(slot, span);
      this.#touch(this.#dirtySpans, span);
    }
  }

  /** A job's result was reported (the dispatcher's `completed` event). */
  jobCompleted(slot: number, jobId: string, result: string, reason: string | undefined): void {
    const job: JobView = { id: jobId, slot, result, reason: reason ?? null, at: this.#now() };
    this.#jobs.push(job);
    if (this.#jobs.length > this.#limits.jobs) this.#jobs.shift();
    const open = this.#slotSpans.get(slot);
    if (open?.id === jobId) this.#slotSpans.set(slot, { ...open, outcome: result });
    this.#change(`job:${jobId}`, { type: 'job', job });
  }

  /** The run is over: one last batch says so, and nothing is watched any more. */
  end(): void {
    if (this.#ended) return;
    const now = this.#now();
    for (const span of this.#openSpans.values())
      this.#finishSpan({ ...span, end: now, outcome: 'unfinished' });
    this.#openSpans.clear();
    for (const span of this.#slotSpans.values())
      this.#finishSpan({ ...span, end: now, outcome: span.outcome ?? 'unfinished' });
    this.#slotSpans.clear();
    for (const watched of this.#nodes.values()) watched.detach();
    this.#ended = true;
    this.#flush();
  }

  snapshot(): DashboardSnapshot {
    this.#pollWriters();
    return {
      type: 'snapshot',
      title: this.#title,
      now: this.#now(),
      ended: this.#ended,
      charts: this.#charts,
      nodes: [...this.#nodes.values()].map((watched) => watched.view),
      counts: { ...this.#counts },
      requests: [...take(this.#unfinished.values(), this.#limits.unfinished), ...this.#finished.values()],
      spans: [
        ...this.#spans.slice(-this.#limits.spans),
        ...this.#openSpans.values(),
        ...this.#slotSpans.values(),
      ],
      slots: [...this.#slots.values()],
      jobs: [...this.#jobs],
    };
  }

  /** Hears every batch from now on (and `'resync'` when changes were too many to hold). */
  subscribe(listener: FeedListener): () => void {
    this.#listeners.add(listener);
    this.#arm();
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Stops the batch timer: after `end` and once the last page has gone, nothing is left running. */
  stop(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#listeners.clear();
  }

  #now(): number {
    return Math.round((this.#clock.now() - this.#origin) * 10) / 10;
  }

  #watch(context: NodeContext, how: string): void {
    const onState = (region: 'connection' | 'exitPacket', state: string) => {
      const watched = this.#nodes.get(context.id)!;
      const others = watched.view.context.filter((path) => !path.startsWith(`${region}`));
      const ended = region === 'connection' && (state === 'closed' || state === 'failed');
      this.#update(watched, {
        context: [...others, ...activePaths({ [region]: nested(state) })],
        ...(ended && { endpoint: null, writer: null }),
      });
    };
    const onReady = () => {
      const watched = this.#nodes.get(context.id)!;
      this.#update(watched, { endpoint: 'active', pid: context.pid ?? null });
    };
    context.on('state', onState);
    context.once('ready', onReady);
    const view: NodeView = {
      id: context.id,
      kind: context.kind,
      pid: context.pid ?? null,
      how,
      context: activePaths({
        connection: nested(context.liveness ? `active.${context.liveness}` : context.state),
        exitPacket: context.exitPacket,
      }),
      writer: context.writerState ?? null,
      endpoint:
        context.state === 'active'
          ? 'active'
          : context.state === 'closed' || context.state === 'failed'
            ? null
            : 'waiting',
    };
    this.#nodes.set(context.id, {
      context,
      view,
      detach: () => {
        context.off('state', onState);
        context.off('ready', onReady);
      },
    });
    this.#change(`node:${context.id}`, { type: 'node', node: view });
  }

  #update(watched: WatchedNode, change: Partial<NodeView>): void {
    watched.view = { ...watched.view, ...change };
    this.#change(`node:${watched.view.id}`, { type: 'node', node: watched.view });
  }

  /** A writer queue moves on every backpressure turn, announced to no one: looked at once a batch. */
  #pollWriters(): void {
    for (const watched of this.#nodes.values()) {
      if (watched.view.endpoint === null && watched.view.writer === null) continue;
      const writer = watched.context.writerState ?? null;
      if (writer !== watched.view.writer) this.#update(watched, { writer });
    }
  }

  #finishSpan(span: SpanView): void {
    this.#spans.push(span);
    // Trimmed in halves, not one at a time: each finished run then costs no copy of the rest.
    if (this.#spans.length > 2 * this.#limits.spans)
      this.#spans.splice(0, this.#spans.length - this.#limits.spans);
    this.#touch(this.#dirtySpans, span);
  }

  #touch<T>(dirty: Set<T>, item: T): void {
    if (this.#listeners.size === 0 || this.#overflowed) return;
    dirty.add(item);
    if (dirty.size > this.#limits.pending) this.#overflow();
  }

  #overflow(): void {
    this.#overflowed = true;
    this.#pending.clear();
    this.#dirtyRequests.clear();
    this.#dirtySpans.clear();
  }

  #change(key: string, change: DashboardChange): void {
    if (this.#listeners.size === 0 || this.#overflowed) return;
    // Re-inserted, so the batch keeps the order things last changed in.
    this.#pending.delete(key);
    this.#pending.set(key, change);
    if (this.#pending.size > this.#limits.pending) this.#overflow();
  }

  #arm(): void {
    if (this.#timer !== undefined || this.#ended) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#flush();
      if (this.#listeners.size > 0) this.#arm();
    }, this.#limits.batchMs);
  }

  #flush(): void {
    if (this.#listeners.size === 0) {
      this.#overflow();
      this.#overflowed = false;
      return;
    }
    this.#pollWriters();
    if (this.#overflowed) {
      this.#overflowed = false;
      for (const listener of this.#listeners) listener('resync');
      return;
    }
    if (this.#pending.size + this.#dirtyRequests.size + this.#dirtySpans.size === 0 && !this.#ended) return;
    const changes: DashboardChange[] = [...this.#pending.values()];
    for (const id of this.#dirtyRequests) {
      const request = this.#unfinished.get(id) ?? this.#finished.get(id);
      // Not kept any more (more requests finished since than the list holds): the page drops it.
      changes.push(request ? { type: 'request', request } : { type: 'request.gone', id });
    }
    for (const span of this.#dirtySpans) changes.push({ type: 'span', span });
    const batch: DashboardBatch = {
      type: 'batch',
      now: this.#now(),
      ended: this.#ended,
      counts: { ...this.#counts },
      changes,
    };
    this.#pending.clear();
    this.#dirtyRequests.clear();
    this.#dirtySpans.clear();
    for (const listener of this.#listeners) listener(batch);
  }
}

/** `active.quiet` as a machine value `{ active: 'quiet' }`. */
function nested(path: string): unknown {
  const dot = path.indexOf('.');
  return dot < 0 ? path : { [path.slice(0, dot)]: nested(path.slice(dot + 1)) };
}

function* take<T>(items: Iterable<T>, count: number): Iterable<T> {
  if (count <= 0) return;
  let taken = 0;
  for (const item of items) {
    yield item;
    if (++taken >= count) return;
  }
}

/** A task's name without its module: `compile`, not `file:///…/tasks.js#compile`. */
function taskName(task: string): string {
  return task.slice(task.lastIndexOf('#') + 1) || task;
}
