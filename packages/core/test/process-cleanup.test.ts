// What a node's tasks and jobs start ends with them, and a node whose host is gone does not wait
// out its idle timeout: real processes, checked in the process table (/proc), each test in its own
// socket directory, everything it caused killed afterwards even when it fails.
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import {
  JOB_EXIT_CODES,
  type JobCompletedEvent,
  JobDispatcher,
  MemoryJobServer,
  type NodeContext,
  ProcessJobWorkers,
  ProcessNodeProvider,
} from '@troupe/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  cleanupSandbox,
  createSandbox,
  isRunning,
  processesUsing,
  type Sandbox,
  waitFor,
  waitUntilGone,
} from './support/processes.js';

const tasks = new URL('./fixtures/process-tasks.mjs', import.meta.url).href;
const jobs = new URL('./fixtures/jobs.mjs', import.meta.url).href;
const launchingHost = new URL('./fixtures/launching-host.mjs', import.meta.url).pathname;
const jobWorkerHost = new URL('./fixtures/job-worker-host.mjs', import.meta.url).pathname;
const jobAgentHost = new URL('./fixtures/job-agent-host.mjs', import.meta.url).pathname;
const bundle = new URL('../dist/bundle/process-node.js', import.meta.url).pathname;

let sandbox: Sandbox;

beforeEach(async () => {
  sandbox = await createSandbox();
});

afterEach(async () => {
  await cleanupSandbox(sandbox);
});

function provider() {
  return new ProcessNodeProvider({ transport: sandbox.transport, launcher: sandbox.launcher });
}

/** Resolves with the first log line of `node` that starts with `prefix`, less the prefix. */
function logLine(node: NodeContext, prefix: string): Promise<string> {
  return new Promise((resolve) => {
    const onLog = (body: { message: string }) => {
      if (!body.message.startsWith(prefix)) return;
      node.off('log', onLog);
      resolve(body.message.slice(prefix.length));
    };
    node.on('log', onLog);
  });
}

/** The pids in a "pids A B" line, recorded for the sandbox's cleanup. */
function pidsOf(line: string): number[] {
  const pids = line.split(' ').map(Number);
  for (const pid of pids) sandbox.pids.add(pid);
  return pids;
}

describe('processes started by tasks on process nodes', () => {
  it("a task's child that reads the node's stdin gets end of file, not a pipe that waits for the host", async () => {
    const host = provider();
    const [node] = await host.acquire(1);
    // The node's stdin is /dev/null: `cat` ends at once with code 0.
    expect(await node!.request(`${tasks}#catStdin`, null)).toBe(0);
    await host.shutdown();
  });

  it.each([
    ['at once', 'leaveTree'],
    ['after it awaited', 'leaveTreeLater'],
  ])(
    "a cancelled task's child and grandchild, started %s, end after the grace, and the node serves on",
    async (_when, task) => {
      const host = provider();
      const [node] = await host.acquire(1);
      const cancel = new AbortController();
      const started = logLine(node!, 'pids ');
      const request = node!.request(`${tasks}#${task}`, null, { signal: cancel.signal });
      request.catch(() => {});
      const [sh, sleep] = pidsOf(await started);
      expect(isRunning(sh!)).toBe(true);
      expect(isRunning(sleep!)).toBe(true);

      cancel.abort();

      await expect(request).rejects.toThrow();
      expect(await waitUntilGone(sh!)).toBe(true);
      expect(await waitUntilGone(sleep!)).toBe(true);
      // The node itself was not touched: it answers the next request.
      const pong = (await node!.request('troupe:ping', null)) as { pid: number };
      expect(pong.pid).toBe(node!.pid);
      await host.shutdown();
      expect(processesUsing(sandbox.directory)).toEqual([]);
    },
  );

  it('a cancelled task that stops its own child itself is left to do so', async () => {
    const host = provider();
    const [node] = await host.acquire(1);
    const cancel = new AbortController();
    const started = logLine(node!, 'pid ');
    const request = node!.request(`${tasks}#stopsOwnChild`, null, { signal: cancel.signal });
    request.catch(() => {});
    const [sleep] = pidsOf(await started);
    const stopped = logLine(node!, 'stopped: ');

    cancel.abort();

    // Its own signal reached the child first: the node's SIGINT waits for the grace.
    expect(await stopped).toBe('SIGUSR1');
    expect(await waitUntilGone(sleep!)).toBe(true);
    await host.shutdown();
  });

  it("a running task's child and grandchild end when its node shuts down, which it does itself", async () => {
    const host = provider();
    const warnings: string[] = [];
    host.on('warning', (warning) => warnings.push(warning.message));
    const [node] = await host.acquire(1);
    const started = logLine(node!, 'pids ');
    node!.request(`${tasks}#leaveTree`, null).catch(() => {});
    const [sh, sleep] = pidsOf(await started);

    await host.shutdown();

    expect(isRunning(node!.pid!)).toBe(false);
    // It exited after the exit packet: its task's processes did not hold it up until the kill.
    expect(warnings).toEqual([]);
    expect(await waitUntilGone(sh!)).toBe(true);
    expect(await waitUntilGone(sleep!)).toBe(true);
    expect(processesUsing(sandbox.directory)).toEqual([]);
  });
});

describe('processes started by jobs', () => {
  it('a job that returns on its cancel while its children run ends Canceled, and they end too', async () => {
    const server = new MemoryJobServer();
    const workers = new ProcessJobWorkers({ transport: sandbox.transport, launcher: sandbox.launcher });
    const dispatcher = new JobDispatcher({
      source: server,
      workers,
      cancelTimeoutMs: 5_000,
      killTimeoutMs: 5_000,
      slots: 1,
    });
    let pids: number[] = [];
    const completed: JobCompletedEvent[] = [];
    dispatcher.on('log', (job, body) => {
      if (body.message.startsWith('pids ')) pids = pidsOf(body.message.slice(5));
      if (body.message === 'waiting') dispatcher.cancel(job.id, 'CancelRequest', 'stop');
    });
    dispatcher.on('completed', (event) => completed.push(event));
    server.add({ id: 'leaves', job: `${jobs}#leavesChildren` });
    server.close();

    await dispatcher.run();

    expect(completed.map((event) => event.completion?.result)).toEqual(['Canceled']);
    expect(completed[0]!.completion?.exit).toEqual({ code: JOB_EXIT_CODES.Canceled, signal: null });
    expect(pids).toHaveLength(2);
    for (const pid of pids) expect(await waitUntilGone(pid)).toBe(true);
    expect(processesUsing(sandbox.directory)).toEqual([]);
  });
});

describe('nodes whose host is gone', () => {
  /** Starts a host fixture; resolves with it and the pids of the nodes it launched. */
  async function launchingHostWith(args: string[], script = launchingHost) {
    const child = spawn(process.execPath, [script, ...args], {
      env: sandbox.env,
      stdio: ['ignore', 'pipe', 'inherit'],
      detached: process.platform !== 'win32',
    });
    if (child.pid) sandbox.pids.add(child.pid);
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
      });
      child.once('exit', () => reject(new Error('the host ended before it printed its nodes')));
    });
    const nodes = JSON.parse(line) as number[];
    for (const pid of nodes) sandbox.pids.add(pid);
    return { child, nodes };
  }

  it.each([
    ['ordinary', []],
    ['reusable', ['reuse']],
  ])('%s nodes launched but never connected exit when their host is killed', async (_kind, extra) => {
    const { child, nodes } = await launchingHostWith(['3', ...extra]);
    expect(nodes).toHaveLength(3);
    expect(nodes.every(isRunning)).toBe(true);

    child.kill('SIGKILL');

    // Their idle timeout is 10 minutes: only the host's death can end them within this bound.
    for (const pid of nodes) expect(await waitUntilGone(pid, 10_000)).toBe(true);
    // Each removed its socket and registry record on the way out.
    expect(await waitFor(() => processesUsing(sandbox.directory).length === 0)).toBe(true);
  });

  it("a running job's children, which it would not stop, end when its agent is killed", async () => {
    const { child, nodes: children } = await launchingHostWith([], jobAgentHost);
    expect(children).toHaveLength(2);
    expect(children.every(isRunning)).toBe(true);

    child.kill('SIGKILL');

    // The worker's parent watch ends the job; the job ignores it, so the worker ends its children.
    for (const pid of children) expect(await waitUntilGone(pid, 10_000)).toBe(true);
    expect(await waitFor(() => processesUsing(sandbox.directory).length === 0)).toBe(true);
  });

  it("a job worker's captured output file goes with it when its host is killed", async () => {
    const { child, nodes } = await launchingHostWith([], jobWorkerHost);
    expect(nodes).toHaveLength(1);
    expect((await readdir(sandbox.directory)).some((file) => file.endsWith('.log'))).toBe(true);

    child.kill('SIGKILL');

    expect(await waitUntilGone(nodes[0]!)).toBe(true);
    // Its socket and the output file the host kept for a crash report: nobody is left to read it.
    expect(await waitFor(() => processesUsing(sandbox.directory).length === 0)).toBe(true);
    expect(await readdir(sandbox.directory)).toEqual([]);
  });
});

describe('launches that fail', () => {
  it('a node killed after it listened, because its launch failed, leaves no socket or file', async () => {
    const host = new ProcessNodeProvider({
      transport: sandbox.transport,
      launcher: sandbox.launcher,
      // A node of another runtime version listens, and no host of this version may pair with it.
      nodeCommand: { command: process.execPath, args: [bundle, '--runtime-version', '9.9.9'] },
      launchAttempts: 2,
      connectTimeoutMs: 3_000,
    });

    await expect(host.acquire(1)).rejects.toThrow(/could not start a node after 2 attempts/);

    expect(sandbox.launched).toHaveLength(2);
    for (const pid of sandbox.launched) expect(await waitUntilGone(pid)).toBe(true);
    expect(await readdir(sandbox.directory)).toEqual([]);
  });
});
