// The live view's server (docs/dashboard.md): the charts it draws are the machines' own, a page
// hears every change of a real run and the run's end, the token rule for binds beyond 127.0.0.1,
// and the bounds that keep a slow page from growing the runtime's memory.
import { get, type IncomingMessage } from 'node:http';
import {
  createRuntime,
  InvalidOptionError,
  JobDispatcher,
  MemoryJobServer,
  type RequestState,
  type ScheduledRequest,
} from '@troupe/core';
import {
  DashboardFeed,
  type DashboardMessage,
  type DashboardSnapshot,
  InProcessJobWorkers,
  jobSlotMachine,
  machineChart,
  nodeContextMachine,
  startDashboardServer,
} from '@troupe/core/internal';
import { VirtualClock } from '@troupe/testing';
import { describe, expect, it } from 'vitest';

const tasks = new URL('./fixtures/graph-tasks.mjs', import.meta.url).href;
const jobs = new URL('./fixtures/jobs.mjs', import.meta.url).href;

/** Every server-sent message of `url`'s stream until the server ends it. */
async function readStream(url: string, init: RequestInit = {}): Promise<DashboardMessage[]> {
  const response = await fetch(url, init);
  expect(response.headers.get('content-type')).toBe('text/event-stream');
  const messages: DashboardMessage[] = [];
  let text = '';
  for await (const chunk of response.body!.pipeThrough(new TextDecoderStream())) text += chunk;
  for (const block of text.split('\n\n'))
    if (block.startsWith('data: ')) messages.push(JSON.parse(block.slice(6)) as DashboardMessage);
  return messages;
}

/** The status of a GET with its own Host header (fetch keeps the address's). */
function statusFor(url: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = get(url, { headers: { host } }, (response) => {
      response.resume();
      resolve(response.statusCode!);
    });
    request.on('error', reject);
  });
}

/** What a page holds after `messages`: the latest view of each thing (the page's own rule). */
function replay(messages: readonly DashboardMessage[]) {
  const requests = new Map<string, string>();
  const nodes = new Map<string, readonly string[]>();
  const jobResults = new Map<string, string>();
  let counts: Record<string, number> = {};
  let ended = false;
  for (const message of messages) {
    if (message.type === 'snapshot') {
      for (const request of message.requests) requests.set(request.id, request.state);
      for (const node of message.nodes) nodes.set(node.id, node.context);
      for (const job of message.jobs) jobResults.set(job.id, job.result);
    } else
      for (const change of message.changes) {
        if (change.type === 'request') requests.set(change.request.id, change.request.state);
        if (change.type === 'node') nodes.set(change.node.id, change.node.context);
        if (change.type === 'job') jobResults.set(change.job.id, change.job.result);
      }
    counts = message.counts;
    ended = message.ended;
  }
  return { requests, nodes, jobResults, counts, ended };
}

describe('the live view', () => {
  it('draws each machine from its definition: every state node, and the transitions between them', () => {
    for (const machine of [nodeContextMachine, jobSlotMachine]) {
      const chart = machineChart(machine);
      // The reference: XState's own index of the machine's state nodes, by id.
      const ids = [...(machine as unknown as { idMap: Map<string, unknown> }).idMap.keys()]
        .filter((id) => id !== machine.id)
        .map((id) => id.slice(machine.id.length + 1));
      expect(chart.states.map((state) => state.path).sort()).toEqual(ids.sort());
    }
    const context = machineChart(nodeContextMachine);
    expect(context.parallel).toBe(true);
    expect(context.transitions).toEqual(
      expect.arrayContaining([
        { from: 'connection.connecting', to: 'connection.handshaking', event: 'link.created' },
        { from: 'connection.active', to: 'connection.closing', event: 'context.closing' },
        { from: 'connection.active.watching', to: 'connection.lost', event: 'after pingInterval' },
        { from: 'exitPacket.none', to: 'exitPacket.queued', event: 'exit.queued' },
        { from: 'exitPacket.queued', to: 'exitPacket.sent', event: 'exit.sent' },
      ]),
    );
    expect(
      context.states
        .filter((state) => state.initial)
        .map((state) => state.path)
        .sort(),
    ).toEqual(['connection.active.quiet', 'connection.connecting', 'exitPacket.none']);
  });

  it('a page hears every request of a real run reach its end, the nodes close, and then that the run ended', async () => {
    const runtime = createRuntime({ nodes: { kind: 'inproc', max: 2 } });
    const inputs = Array.from({ length: 12 }, (_, i) => i + 1);
    const ids = new Set<string>();
    runtime.on('request', (request) => ids.add(request.id));
    let messages: Promise<DashboardMessage[]> | undefined;
    try {
      const dashboard = await runtime.serveDashboard();
      expect(dashboard.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      messages = readStream(`${dashboard.url}events`);
      // The stream's first message is a snapshot: wait for the page to be listening.
      const snapshot = (await (await fetch(`${dashboard.url}snapshot`)).json()) as DashboardSnapshot;
      expect(Object.keys(snapshot.charts).sort()).toEqual([
        'endpoint',
        'nodeContext',
        'request',
        'writerQueue',
      ]);
      const values = await runtime.build([
        ...inputs.map((input) => ({ task: `${tasks}#leaf`, input })),
        { task: `${tasks}#sum`, input: inputs },
      ]);
      expect(values).toEqual([...inputs.map((input) => input * 2), inputs.reduce((a, b) => a + b * 2, 0)]);
    } finally {
      await runtime.shutdown();
    }
    const seen = replay(await messages!);
    expect(seen.ended).toBe(true);
    // The reference: the requests the scheduler announced, each built once.
    const nonZero = Object.fromEntries(Object.entries(seen.counts).filter(([, count]) => count !== 0));
    expect(nonZero).toEqual({ completed: ids.size });
    expect(new Map([...seen.requests].filter(([id]) => ids.has(id)))).toEqual(
      new Map([...ids].map((id) => [id, 'completed'])),
    );
    expect(seen.nodes.size).toBe(2);
    for (const context of seen.nodes.values()) expect(context).toContain('connection.closed');
  });

  it("a page of a job dispatcher sees each job's result as the source got it", async () => {
    const server = new MemoryJobServer();
    const results = ['Succeeded', 'Failed', 'SucceededWithIssues'];
    for (const [index, result] of results.entries())
      server.add({ id: `job-${index}`, job: `${jobs}#resultOf`, message: { result } });
    server.close();
    const dispatcher = new JobDispatcher({ source: server, workers: new InProcessJobWorkers(), slots: 2 });
    const reported = new Map<string, string>();
    dispatcher.on('completed', (event) => reported.set(event.job.id, event.completion?.result ?? 'none'));
    const dashboard = await dispatcher.serveDashboard();
    const messages = readStream(`${dashboard.url}events`);
    const snapshot = (await (await fetch(`${dashboard.url}snapshot`)).json()) as DashboardSnapshot;
    expect(snapshot.charts.jobSlot?.id).toBe(jobSlotMachine.id);
    try {
      await dispatcher.run();
    } finally {
      await dispatcher.shutdown();
    }
    const seen = replay(await messages);
    expect(seen.ended).toBe(true);
    expect(reported).toEqual(new Map(results.map((result, index) => [`job-${index}`, result])));
    expect(seen.jobResults).toEqual(reported);
    await expect(dispatcher.serveDashboard()).rejects.toThrow(/the job dispatcher has stopped/);
  });

  it('binds beyond 127.0.0.1 only with a token, compared on every request; refuses what is not a read', async () => {
    const runtime = createRuntime({ nodes: { kind: 'inproc', max: 1 } });
    try {
      // 127.0.0.2 is loopback too, but not the default: the rule is about the address asked for.
      await expect(runtime.serveDashboard({ host: '127.0.0.2' })).rejects.toThrow(InvalidOptionError);
      await expect(runtime.serveDashboard({ host: '127.0.0.2' })).rejects.toThrow(
        /option token must be given when host is not 127\.0\.0\.1/,
      );
      await expect(runtime.serveDashboard({ host: '127.0.0.2', token: 'short' })).rejects.toThrow(
        /at least 16 characters/,
      );
      const token = 'a-token-of-32-characters-0123456';
      const dashboard = await runtime.serveDashboard({ host: '127.0.0.2', token });
      const base = dashboard.url.slice(0, dashboard.url.indexOf('?'));
      expect(dashboard.url).toBe(`${base}?token=${token}`);
      expect(base).toMatch(/^http:\/\/127\.0\.0\.2:\d+\/$/);
      const status = async (path: string, init: RequestInit = {}) =>
        (await fetch(`${base}${path}`, init)).status;
      expect(await status('')).toBe(401);
      expect(await status('snapshot?token=a-token-of-32-characters-0123457')).toBe(401);
      expect(await status('snapshot?token=a-token')).toBe(401);
      expect(await status(`snapshot?token=${token}`)).toBe(200);
      expect(await status('snapshot', { headers: { authorization: `Bearer ${token}` } })).toBe(200);
      expect(await status(`?token=${token}`)).toBe(200);
      expect(await status(`dashboard.js?token=${token}`)).toBe(200);
      expect(await status(`snapshot?token=${token}`, { method: 'POST' })).toBe(405);
      // The bind may be every address (0.0.0.0), reached by any name: with a token, the Host is free.
      expect(await statusFor(`${base}snapshot?token=${token}`, 'build-box.example:8080')).toBe(200);
      // Without a token, a page elsewhere that points its own name at 127.0.0.1 sends its own Host.
      const open = await runtime.serveDashboard();
      expect(await statusFor(`${open.url}snapshot`, 'attacker.example')).toBe(421);
      expect(await statusFor(`${open.url}snapshot`, new URL(open.url).host)).toBe(200);
      expect(await statusFor(`${open.url}snapshot`, `localhost:${new URL(open.url).port}`)).toBe(200);
    } finally {
      await runtime.shutdown();
    }
    // Shut down: nothing more to serve, and no server left running.
    await expect(runtime.serveDashboard()).rejects.toThrow(/shutting down/);
  });

  it('keeps a bounded model of a long run, and sends a snapshot instead of changes it cannot hold', () => {
    const clock = new VirtualClock();
    const feed = new DashboardFeed(
      clock,
      'test',
      {},
      { finished: 50, unfinished: 20, spans: 30, pending: 100, batchMs: 100 },
    );
    const heard: Array<'resync' | number> = [];
    feed.subscribe((batch) => heard.push(batch === 'resync' ? 'resync' : batch.changes.length));
    const total = 5_000;
    for (let seq = 0; seq < total; seq++) {
      const request = {
        id: `r${seq}`,
        seq,
        spec: { task: 'm.js#leaf', input: seq },
        node: 'n1',
      } as ScheduledRequest;
      const step = (from: RequestState | 'new', to: RequestState) => {
        request.state = to;
        feed.request(request, from, to);
      };
      step('new', 'waiting');
      step('waiting', 'executing');
      if (seq < total - 10) step('executing', 'completed');
      // Now and then a batch goes out: the first after 40 requests, under the limit.
      if (seq === 40) clock.advance(100);
    }
    clock.advance(100);
    // One change per request and one per run, each the latest of its thing.
    expect(heard).toEqual([41 * 2, 'resync']);
    const snapshot = feed.snapshot();
    expect(snapshot.counts).toEqual({ waiting: 0, executing: 10, completed: total - 10 });
    expect(snapshot.requests.length).toBe(10 + 50);
    expect(snapshot.spans.length).toBe(30 + 10);
    feed.end();
    feed.stop();
  });

  it('tells a page to drop the requests it no longer keeps, so the page holds no stale state', () => {
    const clock = new VirtualClock();
    const feed = new DashboardFeed(clock, 'test', {}, { finished: 5, batchMs: 100 });
    const batches: DashboardMessage[] = [];
    feed.subscribe((batch) => {
      if (batch !== 'resync') batches.push(batch);
    });
    for (let seq = 0; seq < 20; seq++) {
      const request = {
        id: `r${seq}`,
        seq,
        spec: { task: 'm.js#leaf', input: seq },
        node: 'n1',
      } as ScheduledRequest;
      for (const [from, to] of [
        ['new', 'waiting'],
        ['waiting', 'executing'],
        ['executing', 'completed'],
      ] as const) {
        request.state = to;
        feed.request(request, from, to);
      }
    }
    clock.advance(100);
    expect(batches).toHaveLength(1);
    const changes = batches[0]!.type === 'batch' ? batches[0]!.changes : [];
    const requests = changes.filter((change) => change.type === 'request' || change.type === 'request.gone');
    expect(
      requests.map((change) =>
        change.type === 'request' ? `${change.request.id} ${change.request.state}` : `${change.id} gone`,
      ),
    ).toEqual(Array.from({ length: 20 }, (_, seq) => (seq < 15 ? `r${seq} gone` : `r${seq} completed`)));
    expect(feed.snapshot().requests.map((request) => request.id)).toEqual([
      'r15',
      'r16',
      'r17',
      'r18',
      'r19',
    ]);
    feed.end();
    feed.stop();
  });

  it('a page that stops reading misses batches, not memory: it gets one snapshot once it reads again', async () => {
    const clock = new VirtualClock();
    const feed = new DashboardFeed(clock, 'slow', {}, { pending: 100_000, finished: 10, unfinished: 10 });
    let produced = 0;
    feed.subscribe((batch) => {
      produced += batch === 'resync' ? 0 : JSON.stringify(batch).length;
    });
    const server = await startDashboardServer(feed, {
      port: 0,
      host: '127.0.0.1',
      token: undefined,
      maxBufferedBytes: 64 * 1024,
    });
    try {
      const response = await new Promise<IncomingMessage>((resolve, reject) =>
        get(`${server.url}events`, resolve).on('error', reject),
      );
      // The page stops reading: what the server sends piles up in the kernel, then in its socket.
      response.pause();
      const task = `m.js#${'x'.repeat(200)}`;
      let seq = 0;
      for (let batch = 0; batch < 80; batch++) {
        for (let i = 0; i < 1000; i++, seq++) {
          const request = { id: `r${seq}`, seq, spec: { task, input: seq }, node: 'n1' } as ScheduledRequest;
          request.state = 'waiting';
          feed.request(request, 'new', 'waiting');
        }
        clock.advance(100);
        await new Promise((resolve) => setImmediate(resolve));
      }
      feed.end();
      let received = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        received += chunk;
      });
      response.resume();
      await new Promise((resolve) => response.once('end', resolve));
      const messages = received
        .split('\n\n')
        .filter((block) => block.startsWith('data: '))
        .map((block) => JSON.parse(block.slice(6)) as DashboardMessage);
      expect(produced).toBeGreaterThan(15_000_000);
      // What reached the page is what the buffers held, plus the snapshot: not the 80 batches.
      expect(received.length).toBeLessThan(produced / 2);
      expect(messages[0]!.type).toBe('snapshot');
      expect(messages.slice(1).some((message) => message.type === 'snapshot')).toBe(true);
      const last = messages.at(-1)!;
      expect(last).toMatchObject({ type: 'snapshot', ended: true, counts: { waiting: 80_000 } });
    } finally {
      feed.stop();
      await server.close();
    }
  });
});
