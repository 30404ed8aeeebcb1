// A run's summary (trace-summary.ts) as the text a person reads at the end of a run or from
// `troupe trace summary FILE`: a few short tables, times in ms (seconds past ten of them).
import type { TraceSummary } from './trace-summary.js';

function time(ms: number): string {
  return ms >= 10_000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`;
}

function percent(part: number, whole: number): string {
  return whole <= 0 ? '-' : `${Math.round((100 * part) / whole)}%`;
}

/** Left-aligned columns from rows of cells, the last column as it is. */
function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0)));
  return rows.map((row) =>
    row
      .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd(),
  );
}

/** `summary` as lines of text, without a trailing newline. */
export function formatTraceSummary(summary: TraceSummary): string {
  const { requests, lost } = summary;
  const ended = [
    `${requests.completed} completed`,
    ...(requests.failed > 0 ? [`${requests.failed} failed`] : []),
    ...(requests.cancelled > 0 ? [`${requests.cancelled} cancelled`] : []),
    ...(requests.unfinished > 0 ? [`${requests.unfinished} unfinished`] : []),
  ].join(', ');
  const lines = [
    `run: ${time(summary.wallMs)}, ${requests.total} requests (${ended}) on ${summary.nodes.length} nodes`,
  ];
  const path = summary.criticalPath;
  const pathMs = path.reduce((sum, step) => sum + step.endMs - step.startMs, 0);
  lines.push(
    '',
    `critical path: ${path.length} steps, ${time(pathMs)} (${percent(pathMs, summary.wallMs)} of the run)`,
  );
  if (path.length > 0)
    lines.push(
      ...table([
        ['  at', 'step', 'executing', 'queued', 'blocked', 'yielded', 'request'],
        ...path.map((step) => [
          `  ${time(step.startMs - summary.startMs)}`,
          time(step.endMs - step.startMs),
          time(step.executingMs),
          time(step.queuedMs),
          time(step.blockedMs),
          time(step.yieldedMs),
          step.label,
        ]),
      ]),
    );
  lines.push('', 'nodes:');
  if (summary.nodes.length > 0)
    lines.push(
      ...table([
        ['  node', 'kind', 'runs', 'busy', 'utilisation', 'start-up'],
        ...summary.nodes.map((node) => [
          `  ${node.node}`,
          node.kind ?? '-',
          String(node.runs),
          time(node.busyMs),
          percent(node.busyMs, summary.wallMs),
          time(node.startupMs),
        ]),
      ]),
    );
  lines.push(
    '',
    'time lost (all requests, request-time / on the critical path):',
    ...table([
      ['  waiting for a node', `${time(lost.queuedMs)} / ${time(lost.critical.queuedMs)}`],
      ['  blocked on requests', `${time(lost.blockedMs)} / ${time(lost.critical.blockedMs)}`],
      ['  waiting outside (yield)', `${time(lost.yieldedMs)} / ${time(lost.critical.yieldedMs)}`],
      [
        '  node start-up',
        `${time(lost.startupMs)} over all nodes; the first node was ready ${time(lost.firstNodeMs)} after the first request`,
      ],
      [
        '  stalled',
        `${time(lost.stalledMs)} with work left and nothing running; ${lost.stalls} stall reports`,
      ],
    ]),
  );
  if (summary.slowest.length > 0)
    lines.push(
      '',
      'slowest tasks (time executing):',
      ...table(
        summary.slowest.map((task) => [
          `  ${time(task.executingMs)}`,
          `${task.runs} run${task.runs === 1 ? '' : 's'}`,
          task.label,
        ]),
      ),
    );
  return lines.join('\n');
}
