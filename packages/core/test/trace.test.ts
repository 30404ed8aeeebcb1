// The runtime's timeline (docs/tracing.md): a simulated build records the same trace every time
// (a golden file), every span opens and closes, a node runs one request at a time, flow arrows
// land in runs; a failed run still writes its file, and TROUPE_TRACE records a real run.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createRuntime,
  InvalidOptionError,
  type RequestLike,
  type TraceFileContents,
  TraceRecorder,
} from '@troupe/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { timelineProblems, tracks } from './support/timeline.js';
import { graph, preloadTraceTasks, task, tracedBuild } from './support/traced-build.js';

const tasks = new URL('./fixtures/trace-tasks.mjs', import.meta.url).href;
const golden = new URL('./fixtures/trace-golden.json', import.meta.url);

describe('the runtime timeline', () => {
  beforeAll(preloadTraceTasks);

  it('a simulated build of a small declared graph records exactly the checked-in trace', async () => {
    const { trace, values } = await tracedBuild(graph());
    expect(values).toEqual(['app[util(core()),ui(core()),docs()]', 'data']);
    // To accept a deliberate change of the format: TROUPE_UPDATE_GOLDEN=1, then read the diff.
    if (process.env.TROUPE_UPDATE_GOLDEN === '1')
      await writeFile(golden, `${JSON.stringify(trace, null, 2)}\n`);
    expect(trace).toEqual(JSON.parse(readFileSync(golden, 'utf8')));
    expect(timelineProblems(trace)).toEqual([]);
  });

  it('holds what a timeline must: spans open and close, one run per node at a time, arrows land in runs', async () => {
    const { trace } = await tracedBuild(graph());
    const all = [...tracks(trace).values()];
    // Each request's track: the states it went through, in order.
    const states = (label: string) => {
      const track = all.find((t) => t.process === 'requests' && t.name.startsWith(label))!;
      return [...track.spans.map((s) => s.name), ...track.instants.map((i) => i.name)];
    };
    expect(states('bundle')).toEqual([
      'pending',
      'waiting',
      'executing',
      'blocked',
      'ready',
      'executing',
      'completed',
    ]);
    expect(states('fetchData')).toEqual([
      'waiting',
      'executing',
      'yielded',
      'reacquiring',
      'executing',
      'completed',
    ]);
    expect(states('compile {"id":"util"')).toEqual(['pending', 'waiting', 'executing', 'completed']);
    // Arrows: core into util and ui (declared); util and ui into app's first run; docs into its second.
    const arrows = trace.traceEvents.filter((e) => e.ph === 's').length;
    expect(arrows).toBe(5);
    // Two nodes, each launched, handshaken, idle and busy, then closed after its exit packet.
    const connections = all.filter((t) => t.name === 'connection');
    expect(connections).toHaveLength(2);
    for (const connection of connections) {
      expect(connection.spans.map((s) => s.name).slice(0, 3)).toEqual(['launch', 'handshake', 'idle']);
      expect(connection.spans.map((s) => s.name)).toContain('busy');
      expect(connection.instants.map((i) => i.name)).toEqual(
        expect.arrayContaining(['accepted', 'exit packet queued', 'exit packet sent', 'closed']),
      );
    }
    expect(timelineProblems(trace)).toEqual([]);
  });

  it('holds them with many requests sent ahead (prefetch) on a random graph', async () => {
    const requests: RequestLike[] = [];
    for (let index = 0; index < 30; index++) {
      const deps = requests.filter((_, other) => (index * 7 + other * 3) % 5 === 0).slice(-3);
      requests.push({ task: task('compile'), input: { id: `p${index}`, ms: 1 + (index % 4) }, deps });
    }
    const { trace, values } = await tracedBuild(requests, { prefetch: 2 });
    expect(values).toHaveLength(30);
    expect(trace.traceEvents.some((e) => e.name === 'staged')).toBe(true);
    expect(timelineProblems(trace)).toEqual([]);
  });

  it('the checks bite: overlapping runs, an open span and a stray arrow are each found', async () => {
    const { trace } = await tracedBuild(graph());
    const runs = trace.traceEvents.filter((e) => e.ph === 'X' && e.cat === 'request');
    const [first, second] = runs.filter((r) => r.pid === runs[0]!.pid && r.tid === runs[0]!.tid);
    const overlapping = structuredClone(trace);
    const moved = overlapping.traceEvents.find(
      (e) => e.ph === 'X' && e.ts === second!.ts && e.cat === 'request',
    )!;
    moved.ts = first!.ts + 1;
    expect(timelineProblems(overlapping).join('\n')).toMatch(/overlap/);
    const open = structuredClone(trace);
    open.traceEvents.find((e) => e.name === 'executing')!.args = { unfinished: true };
    expect(timelineProblems(open).join('\n')).toMatch(/never closed/);
    const stray = structuredClone(trace);
    stray.traceEvents.find((e) => e.ph === 'f')!.ts = 10 ** 12;
    expect(timelineProblems(stray).join('\n')).toMatch(/is in no run/);
  });

  it('a failed build still records how it failed, and what failed with it', async () => {
    const broken: RequestLike = { task: task('compile'), input: { id: 'broken', ms: 1, fail: true } };
    const dependent: RequestLike = { task: task('compile'), input: { id: 'after', ms: 1 }, deps: [broken] };
    const { trace, values } = await tracedBuild([dependent]);
    expect(values).toBeInstanceOf(Error);
    const failed = trace.traceEvents.filter((e) => e.name === 'failed' && e.ph === 'i');
    expect(failed.map((e) => e.args?.error)).toEqual([
      expect.stringMatching(/broken broke/),
      expect.stringMatching(/failed because .* failed: .*broken broke/),
    ]);
    expect(timelineProblems(trace)).toEqual([]);
  });

  it('a recorder shows a span still open as unfinished, up to the latest time recorded', () => {
    const recorder = new TraceRecorder();
    const track = recorder.process('mine').thread('steps');
    track.open('configure', 1);
    track.span('download', 2, 5);
    const events = recorder.toJSON().traceEvents;
    expect(events.map((e) => e.name)).toEqual([
      'process_name',
      'process_sort_index',
      'thread_name',
      'download',
      'configure',
    ]);
    expect(events.at(-1)).toEqual({
      name: 'configure',
      ph: 'X',
      ts: 1000,
      dur: 4000,
      pid: 1,
      tid: 1,
      args: { unfinished: true },
    });
  });

  it('refuses a trace option that is not a file path, a recorder or false', () => {
    expect(() => createRuntime({ trace: '' })).toThrow(InvalidOptionError);
    expect(() => createRuntime({ trace: {} as TraceRecorder })).toThrow(
      /a file path, a TraceRecorder or false/,
    );
  });
});

describe('trace files', () => {
  /** Runs a script on thread nodes in a child process with TROUPE_TRACE set; its exit code. */
  async function runScript(script: string, file: string): Promise<number | null> {
    const directory = await mkdtemp(join(tmpdir(), 'troupe-trace-'));
    const path = join(directory, 'script.mjs');
    // The script lives outside the workspace: it reaches core by its built door's file.
    const core = new URL('../dist/bundle/index.js', import.meta.url).href;
    await writeFile(path, script.replaceAll('TASKS', tasks).replace("'@troupe/core'", `'${core}'`));
    try {
      return await new Promise((resolve) => {
        const child = spawn(process.execPath, [path], {
          env: { ...process.env, TROUPE_TRACE: file },
          stdio: 'ignore',
        });
        child.on('exit', (code) => resolve(code));
      });
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  }

  it('trace: a file path, written at shutdown after a build that failed', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'troupe-trace-'));
    const file = join(directory, 'failed.json');
    try {
      const runtime = createRuntime({ nodes: { kind: 'inproc', max: 1 }, trace: file });
      const broken = { task: task('compile'), input: { id: 'broken', ms: 0, fail: true } };
      await expect(runtime.build(broken)).rejects.toThrow(/broken broke/);
      expect(existsSync(file)).toBe(false);
      await runtime.shutdown();
      const trace = JSON.parse(await readFile(file, 'utf8')) as TraceFileContents;
      expect(trace.traceEvents.filter((e) => e.name === 'failed' && e.ph === 'i')).toHaveLength(1);
      expect(timelineProblems(trace)).toEqual([]);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it('TROUPE_TRACE records a real run on thread nodes, and the file parses', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'troupe-trace-'));
    const file = join(directory, 'run.json');
    try {
      const code = await runScript(
        `import { createRuntime } from '@troupe/core';
         const runtime = createRuntime({ nodes: { kind: 'thread', max: 2 } });
         const core = { task: 'TASKS#compile', input: { id: 'core', ms: 0 } };
         await runtime.build([{ task: 'TASKS#compile', input: { id: 'app', ms: 0 }, deps: [core] }]);
         await runtime.shutdown();`,
        file,
      );
      expect(code).toBe(0);
      const trace = JSON.parse(await readFile(file, 'utf8')) as TraceFileContents;
      expect(trace.displayTimeUnit).toBe('ms');
      expect(timelineProblems(trace)).toEqual([]);
      const runs = trace.traceEvents.filter((e) => e.ph === 'X' && e.cat === 'request');
      expect(runs.map((r) => r.name).sort()).toEqual([
        'compile {"id":"app","ms":0}',
        'compile {"id":"core","ms":0}',
      ]);
      expect(trace.traceEvents.filter((e) => e.ph === 's')).toHaveLength(1);
      const connections = [...tracks(trace).values()].filter((t) => t.name === 'connection');
      expect(connections.length).toBeGreaterThanOrEqual(1);
      for (const connection of connections)
        expect(connection.spans[0]).toMatchObject({ name: 'launch', args: { kind: 'thread' } });
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it('trace: false records nothing, whatever TROUPE_TRACE says', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'troupe-trace-'));
    const file = join(directory, 'none.json');
    try {
      const code = await runScript(
        `import { createRuntime } from '@troupe/core';
         const runtime = createRuntime({ nodes: { kind: 'inproc', max: 1 }, trace: false });
         await runtime.build({ task: 'TASKS#compile', input: { id: 'one', ms: 0 } });
         await runtime.shutdown();`,
        file,
      );
      expect(code).toBe(0);
      expect(existsSync(file)).toBe(false);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it('a program that exits without shutting its runtime down still leaves its trace', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'troupe-trace-'));
    const file = join(directory, 'crash.json');
    try {
      const code = await runScript(
        `import { createRuntime } from '@troupe/core';
         const runtime = createRuntime({ nodes: { kind: 'thread', max: 1 } });
         await runtime.build({ task: 'TASKS#compile', input: { id: 'one', ms: 0 } });
         process.exit(3);`,
        file,
      );
      expect(code).toBe(3);
      expect(existsSync(file)).toBe(true);
      const trace = JSON.parse(await readFile(file, 'utf8')) as TraceFileContents;
      expect(trace.traceEvents.some((e) => e.name === 'completed')).toBe(true);
      // Its node was never shut down: its connection's last span is written as unfinished.
      expect(trace.traceEvents.some((e) => e.args?.unfinished === true)).toBe(true);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
