// A statechart as SVG, from the chart the server read off the machine's definition: a compound
// state's children in a row inside it, a parallel state's regions one above the other, arrows as
// arcs over the states they join. The states the machine is in are lit (class `on`).
import type { Chart, ChartState } from '../src/dashboard/view.js';

const SVG = 'http://www.w3.org/2000/svg';
const LEAF_HEIGHT = 26;
const PAD = 8;
const LABEL = 16;
const GAP = 14;

interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

function el<K extends keyof SVGElementTagNameMap>(
  name: K,
  attributes: Record<string, string | number>,
  parent?: Element,
): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  parent?.appendChild(element);
  return element;
}

/** Draws `chart` with the states in `active` lit; `title` heads it. */
export function drawChart(chart: Chart, active: ReadonlySet<string>, title: string): SVGSVGElement {
  const children = new Map<string, ChartState[]>();
  for (const state of chart.states) {
    const list = children.get(state.parent) ?? [];
    list.push(state);
    children.set(state.parent, list);
  }
  const kind = new Map(chart.states.map((state) => [state.path, state.kind]));
  const boxes = new Map<string, Box>();
  const size = new Map<string, { width: number; height: number }>();
  const measure = (path: string): { width: number; height: number } => {
    const inner = children.get(path) ?? [];
    const name = path.slice(path.lastIndexOf('.') + 1);
    let result: { width: number; height: number };
    if (inner.length === 0) result = { width: Math.max(56, name.length * 7 + 18), height: LEAF_HEIGHT };
    else {
      const sizes = inner.map((state) => measure(state.path));
      const stacked = kind.get(path) === 'parallel';
      const width = stacked
        ? Math.max(...sizes.map((s) => s.width))
        : sizes.reduce((sum, s) => sum + s.width, 0) + GAP * (sizes.length - 1);
      const height = stacked
        ? sizes.reduce((sum, s) => sum + s.height, 0) + GAP * (sizes.length - 1)
        : Math.max(...sizes.map((s) => s.height));
      result =
        path === ''
          ? { width, height }
          : { width: Math.max(width + 2 * PAD, name.length * 7 + 2 * PAD), height: height + LABEL + 2 * PAD };
    }
    size.set(path, result);
    return result;
  };
  const place = (path: string, x: number, y: number): void => {
    const own = size.get(path)!;
    if (path !== '') boxes.set(path, { x, y, ...own });
    const inner = children.get(path) ?? [];
    const stacked = kind.get(path) === 'parallel';
    let cx = path === '' ? x : x + PAD;
    let cy = path === '' ? y : y + LABEL + PAD;
    for (const state of inner) {
      const s = size.get(state.path)!;
      place(state.path, cx, cy);
      if (stacked) cy += s.height + GAP;
      else cx += s.width + GAP;
    }
  };
  kind.set('', chart.parallel ? 'parallel' : 'compound');
  const { width, height } = measure('');
  const arcRoom = 70;
  place('', 10, arcRoom);
  // Drawn at its own size (a small machine stays small), narrowed to fit when the page is narrow.
  const fullWidth = Math.max(width + 20, title.length * 7 + 20);
  const fullHeight = height + 2 * arcRoom;
  const svg = el('svg', {
    viewBox: `0 0 ${fullWidth} ${fullHeight}`,
    width: fullWidth,
    height: fullHeight,
    class: 'chart',
    'data-chart': chart.id,
    role: 'img',
    'aria-label': title,
  });
  const defs = el('defs', {}, svg);
  const marker = el(
    'marker',
    {
      id: `arrow-${chart.id}`,
      viewBox: '0 0 8 8',
      refX: 7,
      refY: 4,
      markerWidth: 6,
      markerHeight: 6,
      orient: 'auto',
    },
    defs,
  );
  el('path', { d: 'M0,0 L8,4 L0,8 z', class: 'arrowhead' }, marker);
  el('text', { x: 10, y: 14, class: 'chart-title' }, svg).textContent = title;
  // Deepest last, so a child is drawn over its parent.
  const ordered = [...boxes.entries()].sort((a, b) => a[0].split('.').length - b[0].split('.').length);
  for (const [path, box] of ordered) {
    const state = chart.states.find((s) => s.path === path)!;
    const group = el(
      'g',
      { class: `state ${state.kind}${active.has(path) ? ' on' : ''}`, 'data-state': path },
      svg,
    );
    el('rect', { x: box.x, y: box.y, width: box.width, height: box.height, rx: 6 }, group);
    const leaf = (children.get(path) ?? []).length === 0;
    const label = el(
      'text',
      leaf
        ? { x: box.x + box.width / 2, y: box.y + 17, 'text-anchor': 'middle' }
        : { x: box.x + PAD, y: box.y + 13 },
      group,
    );
    label.textContent = `${state.initial ? '● ' : ''}${path.slice(path.lastIndexOf('.') + 1)}`;
    el('title', {}, group).textContent = path;
  }
  // One arc per pair of states, named by all the events that move along it.
  const arcs = new Map<string, { from: string; to: string; events: string[] }>();
  for (const transition of chart.transitions) {
    if (transition.from === transition.to) continue;
    const key = `${transition.from}\u0000${transition.to}`;
    const arc = arcs.get(key) ?? { from: transition.from, to: transition.to, events: [] };
    if (transition.event && !arc.events.includes(transition.event)) arc.events.push(transition.event);
    arcs.set(key, arc);
  }
  const labelled = arcs.size <= 12;
  for (const transition of arcs.values()) {
    const from = boxes.get(transition.from);
    const to = boxes.get(transition.to);
    if (!from || !to) continue;
    const event = transition.events.join(', ');
    const x1 = from.x + from.width / 2;
    const x2 = to.x + to.width / 2;
    // Forward arcs (left to right) over the states, backward ones under them: the two directions
    // between a pair of states never share a curve.
    const backward = x2 < x1;
    const y1 = backward ? from.y + from.height : from.y;
    const y2 = backward ? to.y + to.height : to.y;
    const lift = Math.min(arcRoom - 8, 12 + Math.abs(x2 - x1) / 6);
    const peak = backward ? Math.max(y1, y2) + lift : Math.min(y1, y2) - lift;
    const control = backward ? peak + lift / 2 : peak - lift / 2;
    const group = el('g', { class: 'transition' }, svg);
    el(
      'path',
      {
        d: `M${x1 + (backward ? -6 : 6)},${y1} Q${(x1 + x2) / 2},${control} ${x2},${y2}`,
        'marker-end': `url(#arrow-${chart.id})`,
      },
      group,
    );
    el('title', {}, group).textContent = `${event ? `${event}: ` : ''}${transition.from} → ${transition.to}`;
    if (labelled && event)
      el(
        'text',
        { x: (x1 + x2) / 2, y: backward ? peak + 10 : peak - 2, 'text-anchor': 'middle', class: 'event' },
        group,
      ).textContent = event;
  }
  return svg;
}
