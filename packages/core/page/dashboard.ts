// The live view's page: a snapshot, then batches of changes over server-sent events, drawn with
// plain DOM and SVG (no framework: the page is one small bundle). When the run ends, or the
// connection goes, the page keeps the last state it had and says so.
import type {
  DashboardBatch,
  DashboardMessage,
  DashboardSnapshot,
  JobView,
  NodeView,
  RequestView,
  SlotView,
  SpanView,
} from '../src/dashboard/view.js';
import { drawChart } from './chart.js';
import { STYLE } from './style.js';

/** What the page holds: bounded like the server's feed. */
const MAX_REQUESTS = 400;
const MAX_SPANS = 3000;
const MAX_JOBS = 200;

let snapshot: DashboardSnapshot | undefined;
const nodes = new Map<string, NodeView>();
const requests = new Map<string, RequestView>();
const spans = new Map<string, SpanView>();
const slots = new Map<number, SlotView>();
const jobs: JobView[] = [];
let counts: Record<string, number> = {};
let now = 0;
let status: 'connecting' | 'live' | 'ended' | 'lost' = 'connecting';
let selected: string | undefined;
let drawn = false;

function h<K extends keyof HTMLElementTagNameMap>(
  name: K,
  attributes: Record<string, string> = {},
  ...content: Array<Node | string>
): HTMLElementTagNameMap[K] {
  const element = document.createElement(name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  element.append(...content);
  return element;
}

function trim<K, V>(map: Map<K, V>, max: number): void {
  for (const key of map.keys()) {
    if (map.size <= max) return;
    map.delete(key);
  }
}

function apply(message: DashboardMessage): void {
  if (message.type === 'snapshot') {
    snapshot = message;
    nodes.clear();
    requests.clear();
    spans.clear();
    slots.clear();
    jobs.length = 0;
    for (const node of message.nodes) nodes.set(node.id, node);
    for (const request of message.requests) requests.set(request.id, request);
    for (const span of message.spans) spans.set(span.id, span);
    for (const slot of message.slots) slots.set(slot.slot, slot);
    jobs.push(...message.jobs);
  } else applyBatch(message);
  counts = { ...message.counts };
  now = message.now;
  if (message.ended) status = 'ended';
  else if (status !== 'ended') status = 'live';
}

function applyBatch(batch: DashboardBatch): void {
  for (const change of batch.changes) {
    if (change.type === 'node') nodes.set(change.node.id, change.node);
    else if (change.type === 'request') {
      requests.delete(change.request.id);
      requests.set(change.request.id, change.request);
    } else if (change.type === 'request.gone') requests.delete(change.id);
    else if (change.type === 'span') spans.set(change.span.id, change.span);
    else if (change.type === 'slot') slots.set(change.slot.slot, change.slot);
    else jobs.push(change.job);
  }
  trim(requests, MAX_REQUESTS);
  trim(spans, MAX_SPANS);
  if (jobs.length > MAX_JOBS) jobs.splice(0, jobs.length - MAX_JOBS);
}

function schedule(): void {
  if (drawn) return;
  drawn = true;
  requestAnimationFrame(() => {
    drawn = false;
    render();
  });
}

function render(): void {
  const app = document.getElementById('app')!;
  if (!snapshot) return;
  const statusText =
    status === 'ended'
      ? 'run ended'
      : status === 'lost'
        ? 'connection lost'
        : status === 'live'
          ? 'live'
          : 'connecting';
  app.replaceChildren(
    h(
      'header',
      {},
      h('h1', {}, snapshot.title),
      h('span', { id: 'status', class: `status ${status}`, 'data-status': status }, statusText),
      h('span', { class: 'clock' }, `${(now / 1000).toFixed(1)} s`),
    ),
    requestsSection(),
    nodesSection(),
    jobsSection(),
    timelineSection(),
  );
}

function requestsSection(): HTMLElement {
  if (!snapshot?.charts.request) return h('div');
  const states = Object.keys(counts).filter((state) => (counts[state] ?? 0) > 0);
  const pills = h(
    'div',
    { class: 'pills', id: 'counts' },
    ...Object.entries(counts)
      .filter(([, n]) => n > 0)
      .map(([state, n]) => h('span', { class: `pill ${state}`, 'data-count': state }, `${state} ${n}`)),
  );
  const recent = [...requests.values()].reverse().slice(0, 40);
  const table = h(
    'table',
    { id: 'requests' },
    h('tr', {}, h('th', {}, 'request'), h('th', {}, 'task'), h('th', {}, 'state'), h('th', {}, 'node')),
    ...recent.map((request) =>
      h(
        'tr',
        { 'data-request': request.id, 'data-state': request.state },
        h('td', {}, request.id),
        h('td', {}, request.task),
        h('td', { class: request.state }, request.state),
        h('td', {}, request.node ?? ''),
      ),
    ),
  );
  return h(
    'section',
    {},
    h('h2', {}, 'Requests'),
    pills,
    h(
      'div',
      { class: 'charts' },
      drawChart(snapshot.charts.request, new Set(states), 'request (states with requests lit)'),
    ),
    h('div', { class: 'list' }, table),
  );
}

function nodesSection(): HTMLElement {
  if (!snapshot || (nodes.size === 0 && !snapshot.charts.request)) return h('div');
  if (selected === undefined || !nodes.has(selected)) selected = nodes.keys().next().value;
  const cards = h(
    'div',
    { class: 'cards' },
    ...[...nodes.values()].map((node) => {
      const connection = node.context.filter((path) => path.startsWith('connection.')).at(-1) ?? '';
      const card = h(
        'button',
        { class: `card${node.id === selected ? ' selected' : ''}`, 'data-node': node.id, type: 'button' },
        h('strong', {}, node.id),
        h('span', {}, `${node.kind}${node.pid !== null ? ` · pid ${node.pid}` : ''} · ${node.how}`),
        h('span', { class: 'state-line' }, connection.replace('connection.', '')),
      );
      card.addEventListener('click', () => {
        selected = node.id;
        render();
      });
      return card;
    }),
  );
  const node = selected === undefined ? undefined : nodes.get(selected);
  const charts = h('div', { class: 'charts', id: 'node-machines', 'data-node': node?.id ?? '' });
  if (node) {
    charts.append(
      drawChart(
        snapshot.charts.nodeContext!,
        new Set(node.context),
        `${node.id}: node context (connection, exit packet)`,
      ),
      drawChart(
        snapshot.charts.writerQueue!,
        new Set(node.writer ? [node.writer] : []),
        `${node.id}: writer queue`,
      ),
      drawChart(
        snapshot.charts.endpoint!,
        new Set(node.endpoint ? [node.endpoint] : []),
        `${node.id}: endpoint (in the node; as its packets show it)`,
      ),
    );
  }
  return h('section', {}, h('h2', {}, `Nodes (${nodes.size})`), cards, charts);
}

function jobsSection(): HTMLElement {
  const chart = snapshot?.charts.jobSlot;
  if (!chart) return h('div');
  const slotCharts = [...slots.values()].map((slot) =>
    drawChart(chart, new Set(slot.states), `slot ${slot.slot}${slot.job ? `: ${slot.job}` : ''}`),
  );
  const table = h(
    'table',
    { id: 'jobs' },
    h('tr', {}, h('th', {}, 'job'), h('th', {}, 'slot'), h('th', {}, 'result'), h('th', {}, 'reason')),
    ...[...jobs]
      .reverse()
      .map((job) =>
        h(
          'tr',
          { 'data-job': job.id },
          h('td', {}, job.id),
          h('td', {}, String(job.slot)),
          h('td', { class: job.result }, job.result),
          h('td', {}, job.reason ?? ''),
        ),
      ),
  );
  return h(
    'section',
    {},
    h('h2', {}, 'Jobs'),
    h('div', { class: 'charts' }, ...slotCharts),
    h('div', { class: 'list' }, table),
  );
}

function timelineSection(): HTMLElement {
  const lanes = [...new Set([...spans.values()].map((span) => span.lane))].sort();
  const width = 1000;
  const laneHeight = 18;
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', `0 0 ${width + 120} ${lanes.length * laneHeight + 20}`);
  svg.setAttribute('id', 'timeline');
  const end = Math.max(now, 1);
  const first = Math.min(end, ...[...spans.values()].map((span) => span.start));
  const scale = width / Math.max(end - first, 1);
  lanes.forEach((lane, index) => {
    const text = document.createElementNS(svg.namespaceURI, 'text');
    text.setAttribute('x', '0');
    text.setAttribute('y', String(index * laneHeight + 13));
    text.textContent = lane;
    svg.append(text);
  });
  const laneOf = new Map(lanes.map((lane, index) => [lane, index]));
  for (const span of spans.values()) {
    const rect = document.createElementNS(svg.namespaceURI, 'rect');
    const x = 120 + (span.start - first) * scale;
    rect.setAttribute('x', String(x));
    rect.setAttribute('y', String(laneOf.get(span.lane)! * laneHeight + 2));
    rect.setAttribute('width', String(Math.max(1, ((span.end ?? now) - span.start) * scale)));
    rect.setAttribute('height', String(laneHeight - 4));
    rect.setAttribute('class', `span ${span.end === null ? 'running' : (span.outcome ?? '')}`);
    const title = document.createElementNS(svg.namespaceURI, 'title');
    title.textContent = `${span.label} (${span.id}) ${((span.end ?? now) - span.start).toFixed(1)} ms${span.outcome ? `, ${span.outcome}` : ''}`;
    rect.append(title);
    svg.append(rect);
  }
  return h('section', {}, h('h2', {}, 'Timeline'), svg);
}

function connect(): void {
  const token = new URLSearchParams(location.search).get('token');
  const events = new EventSource(`events${token ? `?token=${encodeURIComponent(token)}` : ''}`);
  events.onmessage = (event: MessageEvent<string>) => {
    apply(JSON.parse(event.data) as DashboardMessage);
    // The run is over: keep what is shown, and do not ask again.
    if (status === 'ended') events.close();
    schedule();
  };
  events.onerror = () => {
    if (status === 'ended') return;
    // The server is gone (the program ended without saying so): keep the last state.
    events.close();
    status = 'lost';
    schedule();
  };
}

const style = document.createElement('style');
style.textContent = STYLE;
document.head.append(style);
connect();
