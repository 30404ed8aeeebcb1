// The summary of a run (docs/tracing.md): read from the timeline of a simulated build whose
// schedule is known exactly (virtual time), every figure checked against the hand-worked one;
// the runtime's `summary` option and `troupe trace summary FILE` print the same text.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createRuntime,
  formatTraceSummary,
  InvalidOptionError,
  summarizeTrace,
  TraceRecorder,
  type TraceSummary,
} from '@troupe/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { graph, preloadTraceTasks, task, tracedBuild } from './support/traced-build.js';

const bin = new URL('../bin/troupe.js', import.meta.url).pathname;

describe('the summary of a run', () => {
  beforeAll(preloadTraceTasks);

  // The build, worked by hand (2 nodes, times in virtual ms): core runs 0-3 while fetchData
  // yields at once to wait 5 outside; util (3-5) and ui (3-7) follow core; fetchData wants its
  // node back at 5 and gets it when ui leaves it at 7; app runs 7-8, asks for docs (8-10), and
  // ends 10-11. The path that decides the 11 ms: core, ui, app, docs, app.
  it('finds the critical path of a simulated build, each step with its time', async () => {
    const { trace } = await tracedBuild(graph());
    const summary = summarizeTrace(trace);
    expect(summary.wallMs).toBe(11);
    expect(summary.requests).toEqual({ total: 6, completed: 6, failed: 0, cancelled: 0, unfinished: 0 });
    const step = (label: string, startMs: number, endMs: number, executingMs: number) => ({
      request: expect.any(String),
      label: expect.stringContaining(label),
      startMs,
      endMs,
      executingMs,
      queuedMs: 0,
      blockedMs: 0,
      yieldedMs: 0,
    });
    expect(summary.criticalPath).toEqual([
      step('"core"', 0, 3, 3),
      step('"ui"', 3, 7, 4),
      step('"app"', 7, 8, 1),
      step('"docs"', 8, 10, 2),
      step('"app"', 10, 11, 1),
    ]);
    // The two app steps are one request.
    expect(summary.criticalPath[2]!.request).toBe(summary.criticalPath[4]!.request);
    // The text says the same, step by step.
    const text = formatTraceSummary(summary).split('\n');
    expect(text.slice(0, 9)).toEqual([
      'run: 11.0 ms, 6 requests (6 completed) on 2 nodes',
      '',
      'critical path: 5 steps, 11.0 ms (100% of the run)',
      '  at       step    executing  queued  blocked  yielded  request',
      '  0.0 ms   3.0 ms  3.0 ms     0.0 ms  0.0 ms   0.0 ms   compile {"id":"core","ms":3}',
      '  3.0 ms   4.0 ms  4.0 ms     0.0 ms  0.0 ms   0.0 ms   compile {"id":"ui","ms":4}',
      '  7.0 ms   1.0 ms  1.0 ms     0.0 ms  0.0 ms   0.0 ms   bundle {"id":"app","ms":1,"asks":[{"id":"docs","ms":2}]}',
      '  8.0 ms   2.0 ms  2.0 ms     0.0 ms  0.0 ms   0.0 ms   compile {"id":"docs","ms":2}',
      '  10.0 ms  1.0 ms  1.0 ms     0.0 ms  0.0 ms   0.0 ms   bundle {"id":"app","ms":1,"asks":[{"id":"docs","ms":2}]}',
    ]);
    expect(text).toContain('  blocked on requests      15.0 ms / 0.0 ms');
    expect(text).toContain('  4.0 ms  1 run   compile {"id":"ui","ms":4}');
  });

  it('counts node use, time lost and the slowest tasks exactly', async () => {
    const { trace } = await tracedBuild(graph());
    const summary = summarizeTrace(trace);
    // One node ran core, util and both halves of app (3+2+1+1); the other fetchData's two
    // empty runs, ui and docs (4+2).
    const nodes = summary.nodes.map(({ node: _, ...use }) => use).sort((a, b) => b.busyMs - a.busyMs);
    expect(nodes).toEqual([
      { kind: 'inproc', runs: 4, busyMs: 7, utilisation: 7 / 11, startupMs: 0 },
      { kind: 'inproc', runs: 4, busyMs: 6, utilisation: 6 / 11, startupMs: 0 },
    ]);
    expect(summary.lost).toEqual({
      // fetchData reacquiring 5-7 while ui holds its node.
      queuedMs: 2,
      // util and ui pending on core (3 each), app pending 0-7 and blocked on docs 8-10.
      blockedMs: 3 + 3 + 7 + 2,
      yieldedMs: 5,
      startupMs: 0,
      firstNodeMs: 0,
      stalledMs: 0,
      stalls: 0,
      critical: { queuedMs: 0, blockedMs: 0, yieldedMs: 0 },
    });
    expect(summary.slowest.map((task) => [task.label.split(' ')[1], task.executingMs, task.runs])).toEqual([
      ['{"id":"ui","ms":4}', 4, 1],
      ['{"id":"core","ms":3}', 3, 1],
      ['{"id":"app","ms":1,"asks":[{"id":"docs","ms":2}]}', 2, 2],
      ['{"id":"docs","ms":2}', 2, 1],
      ['{"id":"util","ms":2}', 2, 1],
    ]);
  });

  it('a node held up before its first request, and nothing running with work left, are counted as lost', () => {
    // A timeline drawn by hand, as the runtime draws one: a node that takes 4 ms to start, a
    // request that waits for it, then a gap of 3 ms where it waits for a node that is idle.
    const recorder = new TraceRecorder();
    const requests = recorder.process('requests');
    const node = recorder.process('node-a');
    const connection = node.thread('connection');
    const runs = node.thread('requests');
    connection.span('launch', 0, 3, { kind: 'process' });
    connection.span('handshake', 3, 4);
    connection.instant('accepted', 4);
    connection.span('idle', 4, 20);
    const first = requests.thread('compile "a" · r.0');
    first.span('waiting', 0, 4);
    first.span('executing', 4, 6);
    first.instant('completed', 6);
    runs.span('compile "a"', 4, 6, { request: 'r.0' }, 'request');
    const second = requests.thread('compile "b" · r.1');
    second.span('waiting', 5, 9);
    second.span('executing', 9, 10);
    second.instant('completed', 10);
    runs.span('compile "b"', 9, 10, { request: 'r.1' }, 'request');
    recorder.process('runtime').thread('scheduler').instant('stall', 8);
    const summary = summarizeTrace(recorder.toJSON());
    expect(summary.wallMs).toBe(10);
    expect(summary.lost).toMatchObject({
      startupMs: 4,
      firstNodeMs: 4,
      stalledMs: 3,
      stalls: 1,
      queuedMs: 8,
    });
    expect(summary.nodes).toEqual([
      { node: 'node-a', kind: 'process', runs: 2, busyMs: 3, utilisation: 0.3, startupMs: 4 },
    ]);
    // The last request's own wait for a node is its step's: nothing it waited on was a request.
    expect(summary.criticalPath).toEqual([
      {
        request: 'r.1',
        label: 'compile "b"',
        startMs: 5,
        endMs: 10,
        executingMs: 1,
        queuedMs: 4,
        blockedMs: 0,
        yieldedMs: 0,
      },
    ]);
  });

  it('follows a request back into the task that asked for it, though the ask came a moment before the block', () => {
    // In real time a task's ctx.build submits the request it asks for while the task still runs
    // (here at 5.0), and its own request shows as blocked a little later (5.2), once the node
    // has said so: the path still goes on in the asker, before its block.
    const recorder = new TraceRecorder();
    const requests = recorder.process('requests');
    const runs = recorder.process('node-a').thread('requests');
    const app = requests.thread('bundle "app" · r.app');
    app.span('executing', 0, 5.2);
    app.span('blocked', 5.2, 9.2);
    app.span('executing', 9.2, 10);
    app.instant('completed', 10);
    const lib = requests.thread('compile "lib" · r.lib');
    lib.span('waiting', 5, 5.5);
    lib.span('executing', 5.5, 9);
    lib.instant('completed', 9);
    runs.span('bundle "app"', 0, 5.2, { request: 'r.app' }, 'request');
    runs.span('compile "lib"', 5.5, 9, { request: 'r.lib' }, 'request');
    runs.span('bundle "app"', 9.2, 10, { request: 'r.app' }, 'request');
    recorder.flow('r.lib', runs, 8.9, runs, 9.3);
    const step = (request: string, startMs: number, endMs: number, executingMs: number, queuedMs = 0) => ({
      request,
      label: expect.any(String),
      startMs,
      endMs,
      executingMs,
      queuedMs,
      blockedMs: 0,
      yieldedMs: 0,
    });
    expect(summarizeTrace(recorder.toJSON()).criticalPath).toEqual([
      step('r.app', 0, 5, 5),
      step('r.lib', 5, 9, 3.5, 0.5),
      step('r.app', 9.2, 10, expect.closeTo(0.8, 9)),
    ]);
  });

  it('a request asked for after it had finished held nothing up: the path stays in the asker', () => {
    // lib ran 1-3 on another node; app asked for it at 5 and blocked for no time. What decided
    // app's end was its own run and its waits for a node, not lib (the path once jumped to lib,
    // leaving 3-5 out).
    const recorder = new TraceRecorder();
    const requests = recorder.process('requests');
    const a = recorder.process('node-a').thread('requests');
    const b = recorder.process('node-b').thread('requests');
    const app = requests.thread('bundle "app" · r.app');
    app.span('waiting', 0, 1);
    app.span('executing', 1, 5);
    app.span('blocked', 5, 5);
    app.span('ready', 5, 5.5);
    app.span('executing', 5.5, 6);
    app.instant('completed', 6);
    const lib = requests.thread('compile "lib" · r.lib');
    lib.span('waiting', 0, 1);
    lib.span('executing', 1, 3);
    lib.instant('completed', 3);
    a.span('bundle "app"', 1, 5, { request: 'r.app' }, 'request');
    b.span('compile "lib"', 1, 3, { request: 'r.lib' }, 'request');
    a.span('bundle "app"', 5.5, 6, { request: 'r.app' }, 'request');
    recorder.flow('r.lib', b, 2.9, a, 5.6);
    expect(summarizeTrace(recorder.toJSON()).criticalPath).toEqual([
      {
        request: 'r.app',
        label: 'bundle "app"',
        startMs: 0,
        endMs: 6,
        executingMs: 4.5,
        queuedMs: 1.5,
        blockedMs: 0,
        yieldedMs: 0,
      },
    ]);
  });

  it('is printed at shutdown with the summary option, and by troupe trace summary from the file', async () => {
    const printed: Array<{ text: string; summary: TraceSummary }> = [];
    const recorder = new TraceRecorder();
    const runtime = createRuntime({
      nodes: { kind: 'inproc', max: 2 },
      trace: recorder,
      summary: (text, summary) => printed.push({ text, summary }),
    });
    try {
      const core = { task: task('compile'), input: { id: 'core', ms: 0 } };
      expect(await runtime.build({ task: task('compile'), input: { id: 'app', ms: 0 }, deps: [core] })).toBe(
        'app(core())',
      );
    } finally {
      await runtime.shutdown();
    }
    expect(printed).toHaveLength(1);
    const file = recorder.toJSON();
    expect(printed[0]!.text).toBe(formatTraceSummary(summarizeTrace(file)));
    expect(printed[0]!.summary.criticalPath.map((step) => step.label)).toEqual([
      'compile {"id":"core","ms":0}',
      'compile {"id":"app","ms":0}',
    ]);
    expect(printed[0]!.text).toMatch(
      /^run: .*, 2 requests \(2 completed\) on 1 nodes\n\ncritical path: 2 steps/,
    );

    const directory = await mkdtemp(join(tmpdir(), 'troupe-summary-'));
    try {
      await writeFile(join(directory, 'run.json'), JSON.stringify(file));
      const out = await troupe(['trace', 'summary', join(directory, 'run.json')]);
      expect(out).toEqual({ code: 0, stdout: `${printed[0]!.text}\n`, stderr: '' });
      await writeFile(join(directory, 'bad.json'), '{"nope": 1}');
      const bad = await troupe(['trace', 'summary', join(directory, 'bad.json')]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/is not a trace file: it holds no traceEvents/);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it('refuses a summary option that is neither a boolean nor a function', () => {
    expect(() => createRuntime({ summary: 'yes' as unknown as boolean })).toThrow(InvalidOptionError);
  });
});

async function troupe(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, stdout, stderr };
}
