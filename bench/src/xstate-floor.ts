import { type ChildProcess, fork } from 'node:child_process';

/**
 * The floor under the model rows: the XState work of the 2-node build scenario's schedules and
 * nothing else (bench/workers/model/xstate-floor.mjs), in as many worker processes as the
 * explorer pool has, with the pool's flags. Each worker records its share of the schedules once;
 * each `rate()` replays them all, every worker at once, and gives schedules per second of wall
 * time. The model checker keeps XState for the machines, so no explorer that builds a world per
 * schedule explores faster than this on the same machine.
 */
export class XStateFloor {
  private constructor(private readonly workers: ChildProcess[]) {}

  static async start(options: { workers: number; schedules: number; seed: number }): Promise<XStateFloor> {
    const script = new URL('../workers/model/xstate-floor.mjs', import.meta.url);
    const workers: ChildProcess[] = [];
    const floor = new XStateFloor(workers);
    try {
      for (let i = 0; i < options.workers; i++) {
        workers.push(
          fork(script, {
            execArgv: ['--single-threaded-gc', '--max-semi-space-size=96'],
            serialization: 'advanced',
            stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
          }),
        );
      }
      await Promise.all(workers.map((worker) => reply(worker, 'ready')));
      const share = Math.ceil(options.schedules / options.workers);
      await Promise.all(
        workers.map((worker, i) => {
          worker.send({
            type: 'record',
            seed: options.seed,
            first: i,
            stride: options.workers,
            count: share,
          });
          return reply(worker, 'recorded');
        }),
      );
      return floor;
    } catch (error) {
      await floor.close();
      throw error;
    }
  }

  /** Schedules per second, every worker replaying its share at once. */
  async rate(): Promise<number> {
    const start = performance.now();
    const done = await Promise.all(
      this.workers.map((worker) => {
        worker.send({ type: 'replay' });
        return reply(worker, 'replayed');
      }),
    );
    const schedules = done.reduce((sum, answer) => sum + Number(answer.schedules), 0);
    return schedules / ((performance.now() - start) / 1000);
  }

  async close(): Promise<void> {
    await Promise.all(
      this.workers.map(
        (worker) =>
          new Promise<void>((resolve) => {
            if (worker.exitCode !== null || worker.signalCode !== null) return resolve();
            worker.once('exit', () => resolve());
            if (worker.connected) worker.disconnect();
            else worker.kill();
          }),
      ),
    );
  }
}

/** The worker's next message, which must be of `type`; a failure or an exit rejects. */
function reply(worker: ChildProcess, type: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: Record<string, unknown>) => {
      cleanup();
      if (message.type === type) resolve(message);
      else reject(new Error(`the XState floor's worker: ${String(message.message ?? message.type)}`));
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      cleanup();
      reject(
        new Error(`the XState floor's worker exited (${signal ?? `code ${code}`}) waiting for '${type}'`),
      );
    };
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('exit', onExit);
  });
}
