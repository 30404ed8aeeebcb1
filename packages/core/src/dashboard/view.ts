// What the dashboard's server sends its page: a snapshot when a page connects (or falls behind),
// then batches of changes. Plain JSON-able data; the page (packages/core/page) reads the same types.
import type { Chart } from './charts.js';

export type { Chart, ChartState, ChartTransition } from './charts.js';

/** A node and the current state of each of its machines (chart paths), as the host knows them. */
export interface NodeView {
  readonly id: string;
  readonly kind: string;
  readonly pid: number | null;
  /** How it joined: launched, reused, or adopted (given by a provider that did not announce it). */
  readonly how: string;
  /** The node-context machine's states: `connection.active.quiet`, `exitPacket.none`… */
  readonly context: readonly string[];
  /** Its link's writer-queue machine state; null before the link exists or after it ends. */
  readonly writer: string | null;
  /**
   * The node's own endpoint machine, as its packets show it (it runs in the node): `waiting` until
   * it accepts this host, `active` after; null once the connection has ended.
   */
  readonly endpoint: string | null;
}

export interface RequestView {
  readonly id: string;
  readonly task: string;
  readonly state: string;
  readonly node: string | null;
  /** When it entered its state (ms since the dashboard started watching). */
  readonly since: number;
}

/** A span on the timeline: a request run on a node's lane, or a job on a slot's lane. */
export interface SpanView {
  readonly id: string;
  readonly lane: string;
  readonly label: string;
  readonly start: number;
  /** null while it runs. */
  readonly end: number | null;
  readonly outcome: string | null;
}

/** A job dispatcher's slot: its machine's current states and its job. */
export interface SlotView {
  readonly slot: number;
  readonly states: readonly string[];
  readonly job: string | null;
}

export interface JobView {
  readonly id: string;
  readonly slot: number;
  readonly result: string;
  readonly reason: string | null;
  readonly at: number;
}

export interface DashboardSnapshot {
  readonly type: 'snapshot';
  readonly title: string;
  readonly now: number;
  readonly ended: boolean;
  /** The machines drawn, by name: `nodeContext`, `writerQueue`, `endpoint`, `request`, `jobSlot`. */
  readonly charts: Readonly<Record<string, Chart>>;
  readonly nodes: readonly NodeView[];
  readonly counts: Readonly<Record<string, number>>;
  /** The requests now (at most a few hundred unfinished and the latest finished; `counts` has all). */
  readonly requests: readonly RequestView[];
  readonly spans: readonly SpanView[];
  readonly slots: readonly SlotView[];
  readonly jobs: readonly JobView[];
}

export type DashboardChange =
  | { readonly type: 'node'; readonly node: NodeView }
  | { readonly type: 'request'; readonly request: RequestView }
  /** A request the feed no longer keeps (finished, and pushed out by later ones). */
  | { readonly type: 'request.gone'; readonly id: string }
  | { readonly type: 'span'; readonly span: SpanView }
  | { readonly type: 'slot'; readonly slot: SlotView }
  | { readonly type: 'job'; readonly job: JobView };

export interface DashboardBatch {
  readonly type: 'batch';
  readonly now: number;
  readonly ended: boolean;
  readonly counts: Readonly<Record<string, number>>;
  readonly changes: readonly DashboardChange[];
}

export type DashboardMessage = DashboardSnapshot | DashboardBatch;
