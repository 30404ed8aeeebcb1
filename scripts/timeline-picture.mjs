// Draws a trace-event file (a runtime's timeline, docs/tracing.md) as an SVG picture in the manner
// of Perfetto's track view: a row per track, grouped by process, spans as coloured bars named when
// there is room, instants as ticks, flow arrows as lines. For the README, where Perfetto itself
// (an online page) cannot be shown: `node scripts/timeline-picture.mjs run.json > run.svg`, then
// any browser turns it into a PNG (`chromium --headless --screenshot=run.png run.svg`).
import { readFileSync } from 'node:fs';

const [file, title = ''] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: node scripts/timeline-picture.mjs TRACE.json [TITLE] > picture.svg\n');
  process.exit(2);
}
const events = JSON.parse(readFileSync(file, 'utf8')).traceEvents;

const WIDTH = 1400;
const LABEL = 250;
const ROW = 18;
const HEADER = 22;
const TOP = 48;
const PALETTE = [
  '#4e79a7',
  '#f28e2b',
  '#59a14f',
  '#b07aa1',
  '#76b7b2',
  '#edc948',
  '#e15759',
  '#9c755f',
  '#bab0ac',
];
/** The same colour for the same name, as Perfetto does. */
const STATE_COLOURS = {
  executing: '#59a14f',
  waiting: '#edc948',
  pending: '#bab0ac',
  blocked: '#e15759',
  ready: '#f28e2b',
  staged: '#f1ce63',
  yielded: '#b07aa1',
  reacquiring: '#ff9d9a',
  launch: '#76b7b2',
  handshake: '#4e79a7',
  idle: '#d4d4d4',
  busy: '#8cd17d',
  closing: '#9c755f',
  'waiting for exit': '#9c755f',
};
function colour(name) {
  if (STATE_COLOURS[name]) return STATE_COLOURS[name];
  let hash = 0;
  for (const char of name) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return PALETTE[hash % PALETTE.length];
}
const xml = (text) => text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

const processes = new Map();
const threads = new Map();
for (const event of events) {
  if (event.name === 'process_name') processes.set(event.pid, event.args.name);
  if (event.name === 'thread_name') threads.set(`${event.pid}:${event.tid}`, event.args.name);
}
const timed = events.filter((event) => event.ph !== 'M');
const start = Math.min(...timed.map((event) => event.ts));
const end = Math.max(...timed.map((event) => event.ts + (event.dur ?? 0)));
const x = (ts) => LABEL + ((ts - start) / Math.max(1, end - start)) * (WIDTH - LABEL - 10);

// Rows: each process's header, then its tracks in the order they were named.
const rows = new Map();
const parts = [];
let y = TOP;
for (const [pid, name] of [...processes].sort((a, b) => a[0] - b[0])) {
  const tracks = [...threads].filter(([key]) => Number(key.split(':')[0]) === pid);
  if (tracks.length === 0) continue;
  parts.push(`<rect x="0" y="${y}" width="${WIDTH}" height="${HEADER}" fill="#eef1f5"/>`);
  parts.push(`<text x="8" y="${y + 15}" class="process">${xml(name)}</text>`);
  y += HEADER;
  for (const [key, track] of tracks) {
    rows.set(key, y);
    const label = track.length > 36 ? `${track.slice(0, 35)}…` : track;
    parts.push(`<text x="20" y="${y + 13}" class="track">${xml(label)}</text>`);
    parts.push(`<line x1="0" x2="${WIDTH}" y1="${y + ROW}" y2="${y + ROW}" stroke="#f0f0f0"/>`);
    y += ROW;
  }
}
for (const event of timed) {
  const row = rows.get(`${event.pid}:${event.tid}`);
  if (row === undefined) continue;
  if (event.ph === 'X') {
    const left = x(event.ts);
    const width = Math.max(1, x(event.ts + event.dur) - left);
    parts.push(
      `<rect x="${left.toFixed(1)}" y="${row + 2}" width="${width.toFixed(1)}" height="${ROW - 4}" rx="2" fill="${colour(event.name)}"><title>${xml(event.name)}</title></rect>`,
    );
    const room = Math.floor((width - 6) / 6.2);
    if (room >= 3) {
      const text = event.name.length > room ? `${event.name.slice(0, room - 1)}…` : event.name;
      parts.push(`<text x="${(left + 3).toFixed(1)}" y="${row + 13}" class="span">${xml(text)}</text>`);
    }
  } else if (event.ph === 'i') {
    const at = x(event.ts);
    parts.push(
      `<path d="M${at.toFixed(1)} ${row + 3} l4 6 l-4 6 l-4 -6 z" fill="#333"><title>${xml(event.name)}</title></path>`,
    );
  }
}
const flows = new Map();
for (const event of timed)
  if (event.ph === 's' || event.ph === 'f')
    flows.set(event.id, { ...flows.get(event.id), [event.ph]: event });
for (const { s, f } of flows.values()) {
  const from = s && rows.get(`${s.pid}:${s.tid}`);
  const to = f && rows.get(`${f.pid}:${f.tid}`);
  if (from === undefined || to === undefined) continue;
  parts.push(
    `<line x1="${x(s.ts).toFixed(1)}" y1="${from + ROW / 2}" x2="${x(f.ts).toFixed(1)}" y2="${to + ROW / 2}" stroke="#222" stroke-width="0.8" marker-end="url(#arrow)" opacity="0.6"/>`,
  );
}
// A time axis along the top, in ms of the run's clock.
const axis = [];
const spanMs = (end - start) / 1000;
const step = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000].find((s) => spanMs / s <= 12) ?? 10000;
for (let ms = 0; ms <= spanMs; ms += step) {
  const at = x(start + ms * 1000);
  axis.push(`<line x1="${at}" x2="${at}" y1="${TOP - 6}" y2="${y}" stroke="#e6e6e6"/>`);
  axis.push(`<text x="${at + 2}" y="${TOP - 9}" class="axis">${ms} ms</text>`);
}
const height = y + 10;
process.stdout.write(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}">
<style>
  text { font-family: "DejaVu Sans", Arial, sans-serif; }
  .title { font-size: 14px; font-weight: bold; fill: #222; }
  .process { font-size: 12px; font-weight: bold; fill: #333; }
  .track { font-size: 11px; fill: #444; }
  .span { font-size: 10px; fill: #fff; }
  .axis { font-size: 10px; fill: #777; }
</style>
<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z" fill="#222"/></marker></defs>
<rect width="100%" height="100%" fill="#fff"/>
<text x="8" y="18" class="title">${xml(title)}</text>
${axis.join('\n')}
${parts.join('\n')}
</svg>
`);
