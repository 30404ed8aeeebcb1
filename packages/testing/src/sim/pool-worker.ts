// What runs inside an ExplorerPool worker process: jobs of schedules, one at a time.
import type { FromWorker, RunMessage, ToWorker } from './pool-protocol.js';
import type { Scenario } from './scenario.js';
import { runSchedule } from './schedule.js';
import { strategyFromRecipe } from './strategies.js';

const send = process.send?.bind(process);
if (!send) throw new Error('pool-worker.js runs in a process an ExplorerPool started');
// The pool is this process's reason to be: when it goes (closed, or its process died), so do we.
process.on('disconnect', () => process.exit(0));

// Stack traces cost more than a small world's whole step, and nobody reads them here: a violation
// is replayed, with them, by the process that asked.
Error.stackTraceLimit = 0;

// After the pool has gone there is nobody to tell.
const post = (message: FromWorker): void => {
  if (process.connected) send(message);
};
/** The lowest violating schedule index each job has heard of: later schedules need not run. */
const bounds = new Map<number, number>();
const loaded = new Map<string, Promise<Record<string, unknown>>>();

function isScenario(value: unknown, name: string): value is Scenario {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Scenario).name === name &&
    typeof (value as Scenario).setup === 'function'
  );
}

/** The scenario named `name` among a module's exports, or in an array it exports. */
async function findScenario(module: string, name: string): Promise<Scenario> {
  let exports = loaded.get(module);
  if (!exports) {
    exports = import(module) as Promise<Record<string, unknown>>;
    loaded.set(module, exports);
  }
  for (const value of Object.values(await exports)) {
    if (isScenario(value, name)) return value;
    if (Array.isArray(value)) {
      const found = value.find((item) => isScenario(item, name));
      if (found) return found;
    }
  }
  throw new Error(`${module} exports no scenario named ${JSON.stringify(name)}`);
}

async function run(job: RunMessage): Promise<void> {
  const scenario = await findScenario(job.module, job.scenario);
  const strategy = strategyFromRecipe(job.recipe);
  let schedules = 0;
  for (let index = job.first; index < job.limit; index += job.stride) {
    if (index > (bounds.get(job.job) ?? Number.POSITIVE_INFINITY) || Date.now() >= job.deadline) break;
    const next = strategy.schedule(index);
    if (!next) break;
    const result = await runSchedule(scenario, job.variant, next.seed, next.chooser);
    schedules++;
    if (result.violation) {
      bounds.set(job.job, Math.min(bounds.get(job.job) ?? index, index));
      post({ type: 'found', job: job.job, index, schedule: result.schedule, violation: result.violation });
      break;
    }
  }
  bounds.delete(job.job);
  post({ type: 'done', job: job.job, schedules });
}

// Jobs run one after another: each schedule already has the thread to itself.
let queue = Promise.resolve();
process.on('message', (message: ToWorker) => {
  if (message.type === 'bound') {
    bounds.set(message.job, Math.min(bounds.get(message.job) ?? message.index, message.index));
    return;
  }
  queue = queue.then(() =>
    run(message).catch((error: unknown) =>
      post({
        type: 'failed',
        job: message.job,
        message: error instanceof Error ? (error.stack ?? error.message) : String(error),
      }),
    ),
  );
});
post({ type: 'ready' });
