// Scripted job workers and a dispatcher world on a virtual clock, shared by the job dispatcher's
// tests: every move of a worker (exit, what a send does, a kill) is the test's.
import {
  type JobCompletedEvent,
  JobDispatcher,
  type JobDispatcherOptions,
  type JobRequest,
  type JobSource,
  MemoryJobServer,
  type NodeExit,
  type PacketBodies,
} from '@troupe/core';
import type { JobPacket, JobWorker, JobWorkerFactory } from '@troupe/core/internal';
import { VirtualClock } from '@troupe/testing';

/** Lets promise continuations and already-due callbacks run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

export type SendMode = 'ok' | 'hang' | 'fail';

/** A worker whose every move the test makes: exit, what sends do, what a kill does. */
export class ScriptedWorker implements JobWorker {
  readonly sent: Array<{ kind: JobPacket; body: unknown }> = [];
  readonly exited: Promise<NodeExit>;
  killed = 0;
  disposed = 0;
  /** What a send of each kind does. */
  mode: Partial<Record<JobPacket, SendMode>> = {};
  /** Whether a kill makes the worker exit (a worker that survives its kill: false). */
  dies = true;
  outputText = 'line one\nline two';
  dispose: () => Promise<void> = async () => {
    this.disposed++;
  };
  #exit!: (exit: NodeExit) => void;
  #exited = false;
  readonly #logs: Array<(body: PacketBodies['Log']) => void> = [];

  constructor(
    readonly id: string,
    readonly pid: number,
  ) {
    this.exited = new Promise((resolve) => {
      this.#exit = resolve;
    });
  }

  send<K extends JobPacket>(kind: K, body: PacketBodies[K]): Promise<void> {
    this.sent.push({ kind, body });
    const mode = this.mode[kind] ?? 'ok';
    if (mode === 'hang') return new Promise(() => {});
    if (mode === 'fail') return Promise.reject(new Error('the connection is closed'));
    return Promise.resolve();
  }

  exit(exit: NodeExit): void {
    if (this.#exited) return;
    this.#exited = true;
    this.#exit(exit);
  }

  output(): string {
    return this.outputText;
  }

  kill(): void {
    this.killed++;
    if (this.dies) this.exit({ code: null, signal: 'SIGKILL' });
  }

  onLog(listener: (body: PacketBodies['Log']) => void): void {
    this.#logs.push(listener);
  }

  log(message: string): void {
    for (const listener of this.#logs) listener({ requestId: 'x', level: 'info', message });
  }

  kinds(): JobPacket[] {
    return this.sent.map((s) => s.kind);
  }
}

export class ScriptedWorkers implements JobWorkerFactory {
  readonly started: ScriptedWorker[] = [];
  /** Called on each new worker before it is handed out. */
  prepare: (worker: ScriptedWorker) => void = () => {};
  /** Start fails with this error. */
  failure: Error | undefined;
  /** Start waits for this (a slow launch). */
  gate: Promise<void> | undefined;

  async start(): Promise<JobWorker> {
    if (this.gate) await this.gate;
    if (this.failure) throw this.failure;
    const worker = new ScriptedWorker(`worker-${this.started.length + 1}`, 1000 + this.started.length);
    this.prepare(worker);
    this.started.push(worker);
    return worker;
  }
}

/** Makes the job message of the next workers wait until `release()`: a message on its way. */
export function holdJobMessage(workers: ScriptedWorkers): { release(): void } {
  const held = { release: () => {} };
  workers.prepare = (worker) => {
    const send = worker.send.bind(worker);
    worker.send = (kind, body) =>
      kind === 'JobRequest'
        ? new Promise<void>((resolve) => {
            worker.sent.push({ kind, body });
            held.release = resolve;
          })
        : send(kind, body);
  };
  return held;
}

export function world({ leaseMs, ...options }: Partial<JobDispatcherOptions> & { leaseMs?: number } = {}) {
  const clock = new VirtualClock();
  const server = new MemoryJobServer({ clock, leaseMs: leaseMs ?? 10_000 });
  const workers = new ScriptedWorkers();
  const renewals: string[] = [];
  const source: JobSource = {
    take: (signal) => server.take(signal),
    renew: (job, signal) => {
      renewals.push(job.id);
      return server.renew(job, signal);
    },
    complete: (job, completion) => server.complete(job, completion),
  };
  const dispatcher = new JobDispatcher({
    source,
    workers,
    clock,
    channelTimeoutMs: 1_000,
    cancelTimeoutMs: 5_000,
    killTimeoutMs: 2_000,
    lease: { renewIntervalMs: 3_000, retryStartMs: 500, retryMaxMs: 2_000, firstRenewalAttempts: 3 },
    ...options,
  });
  const completed: JobCompletedEvent[] = [];
  const order: string[] = [];
  const states: string[] = [];
  const errors: Error[] = [];
  dispatcher.on('started', (e) => order.push(`started ${e.job.id}`));
  dispatcher.on('completed', (e) => {
    completed.push(e);
    order.push(`completed ${e.job.id}`);
  });
  dispatcher.on('jobError', (_job, error) => errors.push(error));
  dispatcher.on('state', (_slot, state) => states.push(JSON.stringify(state)));
  server.on('completed', (job) => order.push(`reported ${job.id} ${job.completion?.result}`));
  /** Advances virtual time in small steps, letting continuations run between them. */
  const advance = async (ms: number, step = 100) => {
    for (let t = 0; t < ms; t += step) {
      clock.advance(Math.min(step, ms - t));
      await settle();
    }
  };
  return { clock, server, workers, renewals, dispatcher, completed, order, states, errors, advance };
}

/** Queues one job and assigns it, returning the job request the dispatcher took. */
export async function startOne(w: ReturnType<typeof world>, id = 'job-1'): Promise<JobRequest> {
  w.server.add({ id, job: 'jobs.mjs#hello', message: { name: id } });
  const job = (await w.server.take())!;
  void w.dispatcher.dispatch(job);
  await settle();
  return job;
}
