import { parseArgs } from 'node:util';
import type { Row, Suite } from './measure.js';
import { jobsSuite } from './suites/jobs.js';
import { modelSuite } from './suites/model.js';
import { nodesSuite } from './suites/nodes.js';
import { qualitySuite } from './suites/quality.js';
import { remoteSuite } from './suites/remote.js';
import { requestsSuite } from './suites/requests.js';
import { schedulerSuite } from './suites/scheduler.js';
import { startPackedSuite, startSuite } from './suites/start.js';
import { tasksSuite } from './suites/tasks.js';
import { transportSuite } from './suites/transport.js';
import { workloadSuite } from './suites/workload.js';

export const suites: Record<string, Suite> = {
  transport: transportSuite,
  nodes: nodesSuite,
  scheduler: schedulerSuite,
  tasks: tasksSuite,
  requests: requestsSuite,
  start: startSuite,
  model: modelSuite,
  quality: qualitySuite,
  jobs: jobsSuite,
  workload: workloadSuite,
  remote: remoteSuite,
};

/**
 * Suites run only when named (`--suite start-packed`): too slow or too dependent on the machine
 * (npm packs and installs) for every run.
 */
export const namedSuites: Record<string, Suite> = {
  'start-packed': startPackedSuite,
};

function format(rows: readonly Row[]): string {
  const header = ['suite', 'name', 'unit', 'troupe', 'baseline', 'ratio', 'goal'];
  const lines = rows.map((r) =>
    r.pending === undefined
      ? [
          r.suite,
          r.name,
          r.unit,
          r.value.toPrecision(4),
          r.baseline.toPrecision(4),
          r.ratio.toFixed(3),
          r.goal ?? '',
        ]
      : [r.suite, `${r.name} (pending: ${r.pending})`, r.unit, '—', '—', '—', r.goal ?? ''],
  );
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const render = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [render(header), render(widths.map((w) => '-'.repeat(w))), ...lines.map(render)].join('\n');
}

export async function runSuites(
  names: readonly string[],
  quick: boolean,
  onRow?: (row: Row) => void,
): Promise<Row[]> {
  const rows: Row[] = [];
  for (const name of names) {
    const suite = suites[name] ?? namedSuites[name];
    if (!suite)
      throw new Error(
        `unknown suite ${name}; known: ${[...Object.keys(suites), ...Object.keys(namedSuites)].join(', ')}`,
      );
    for (const row of await suite({ quick })) {
      rows.push(row);
      onRow?.(row);
    }
  }
  return rows;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      suite: { type: 'string', multiple: true },
    },
  });
  const names = values.suite ?? Object.keys(suites);
  const rows = await runSuites(
    names,
    values.quick,
    values.json ? (row) => console.log(JSON.stringify(row)) : undefined,
  );
  if (!values.json) console.log(format(rows));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
