// One agent process of database mode: a PostgresJobSource on the run's queue and a JobDispatcher
// on it. A real program at the edge: it reads its argv and TROUPE_DATABASE_URL (never the URL in
// argv, which every user of the machine can see), and talks to the process that started it over
// IPC: it reports each job's log lines and its end, and takes `stop` and the demo's `loseLease`.
import { parseArgs } from 'node:util';
import { JobDispatcher, type JobSource, LeaseLostError, ProcessJobWorkers } from '@troupe/core';
import { InProcessJobWorkers, type JobWorkerFactory } from '@troupe/core/internal';
import { PostgresJobSource } from '@troupe/postgres';
import { demoDispatcher } from './agent.js';
import { type JobReport, watchDispatcher } from './report.js';

/** What an agent process tells its parent. */
export type AgentMessage =
  | { type: 'event'; line: string }
  | { type: 'log'; id: string; message: string }
  | { type: 'report'; report: JobReport }
  | { type: 'warning'; message: string };

/** What its parent tells an agent process. */
export type AgentCommand = { type: 'stop' } | { type: 'loseLease'; id: string };

const { values } = parseArgs({
  options: {
    name: { type: 'string' },
    schema: { type: 'string' },
    slots: { type: 'string', default: '3' },
    'lease-ms': { type: 'string', default: '1500' },
    'poll-ms': { type: 'string', default: '500' },
    // In-process workers: for the many-agents tests, whose jobs are quick and many.
    workers: { type: 'string', default: 'process' },
    // Only the reports: no progress lines (many quick jobs would spend their time on them).
    quiet: { type: 'boolean', default: false },
  },
});
const database = process.env.TROUPE_DATABASE_URL;
if (!database) throw new Error('the agent needs TROUPE_DATABASE_URL');
const name = values.name ?? `agent-${process.pid}`;
/** The last message on its way to the parent. `process.send` only queues a message: one still
 * queued when the process disconnects is dropped, so the agent waits for this one (messages leave
 * in order) before it disconnects, and a stopping agent's last reports still reach its parent. */
let sent: Promise<void> = Promise.resolve();
const send = (message: AgentMessage) => {
  if (!process.send) return;
  // A channel already closed fails the send through its callback: nobody is left to tell.
  sent = new Promise((resolve) => process.send!(message, undefined, undefined, () => resolve()));
};

const source = new PostgresJobSource({
  database,
  agent: name,
  leaseMs: Number(values['lease-ms']),
  pollMs: Number(values['poll-ms']),
  ...(values.schema && { schema: values.schema }),
});
source.on('warning', (error) => {
  // The database's outages are the agent's to say: it retries with back-off meanwhile.
  process.stderr.write(`${name}: database: ${error.message}\n`);
  send({ type: 'warning', message: error.message });
});

// The demo's lost lease: the source refuses this job's renewals from now on, as a database does
// once another agent has taken the job, so the dispatcher abandons it and stops its worker.
const refused = new Set<string>();
const faulty: JobSource = {
  take: (signal) => source.take(signal),
  renew: (job, signal) =>
    refused.has(job.id)
      ? Promise.reject(new LeaseLostError(job.id, 'the demo took it away from this agent'))
      : source.renew(job, signal),
  complete: (job, completion) => source.complete(job, completion),
  watch: (listener) => source.watch(listener),
};

/**
 * The agent's environment without the queue's credentials: a job's worker process needs none of
 * the database's (the agent talks to the queue for it), and a job should not be able to read them.
 */
function jobEnvironment(): NodeJS.ProcessEnv {
  const { PGPASSWORD: _password, TROUPE_DATABASE_URL: _url, ...rest } = process.env;
  return rest;
}

const workers: JobWorkerFactory =
  values.workers === 'in-process'
    ? new InProcessJobWorkers()
    : new ProcessJobWorkers({ env: jobEnvironment() });
const dispatcher = new JobDispatcher({
  source: faulty,
  workers,
  slots: Number(values.slots),
  ...demoDispatcher,
});
watchDispatcher(dispatcher, {
  onJob: (report) => send({ type: 'report', report: { ...report, agent: name } }),
  ...(!values.quiet && {
    onLog: (job, message) => send({ type: 'log', id: job.id, message }),
    onEvent: (line) => send({ type: 'event', line: `${name} ${line}` }),
  }),
});
dispatcher.on('lease', (event) => {
  if (event.error)
    process.stderr.write(`${name}: lease of ${event.job.id}: ${event.outcome}: ${event.error.message}\n`);
});

let stopping: Promise<void> | undefined;
const stop = (why: string) => {
  stopping ??= dispatcher.shutdown('OperatingSystemShutdown', why);
};
process.on('message', (command: AgentCommand) => {
  if (command.type === 'stop') stop('the run is over');
  if (command.type === 'loseLease') refused.add(command.id);
});
process.once('SIGTERM', () => stop(`${name} got SIGTERM`));
process.once('SIGINT', () => stop(`${name} got SIGINT`));

await dispatcher.run();
await stopping;
await source.close();
await sent;
process.disconnect?.();
