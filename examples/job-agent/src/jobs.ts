// The jobs the agent runs. Worker processes import this module (its compiled dist/jobs.js) and
// run the export a job request names.
import { defineJob } from '@troupe/core';

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    });
  });

/** Compiles some "projects", a log line each, and succeeds. */
export const compile = defineJob<{ projects: number }>(
  async (message, ctx) => {
    for (let i = 1; i <= message.projects; i++) {
      await sleep(20, ctx.signal);
      ctx.log(`compiled project ${i}/${message.projects}`);
    }
  },
  { name: 'compile', module: import.meta.url },
);

/**
 * Runs until cancelled, then cleans up and lets the cancellation end it (exit code: Canceled).
 * Says "waiting" once it runs, so the agent knows when to act on it.
 */
export const longTask = defineJob({
  name: 'longTask',
  module: import.meta.url,
  run: async (_message, ctx) => {
    ctx.log('waiting');
    try {
      await sleep(60_000, ctx.signal);
    } finally {
      const reason = ctx.signal.reason as { kind?: string; message?: string } | undefined;
      if (reason) ctx.log(`stopping (${reason.kind}: ${reason.message}); cleaning up`);
    }
  },
});

/** Ignores its cancellation: the agent has to kill it. */
export const stubborn = defineJob({
  name: 'stubborn',
  module: import.meta.url,
  run: (_message, ctx) =>
    new Promise<never>(() => {
      setInterval(() => {}, 1_000);
      ctx.signal.addEventListener('abort', () => ctx.log('ignoring the cancel'));
      ctx.log('waiting');
    }),
});

/** Writes to stdout and stderr and crashes its process (exit code 3, outside the result table). */
export const crash = defineJob({
  name: 'crash',
  module: import.meta.url,
  run: async (_message, ctx) => {
    ctx.log('loading a corrupt input');
    process.stdout.write('reading input.bin\n');
    process.stderr.write('fatal: input.bin is corrupt at offset 0x1f\n');
    await sleep(20);
    process.exit(3);
  },
});

/**
 * Waits for a metadata update that names its target, then deploys there. Succeeds with issues when
 * the target is not the one it started with.
 */
export const deploy = defineJob({
  name: 'deploy',
  module: import.meta.url,
  run: async (_message, ctx) => {
    const initial = ctx.metadata.target;
    ctx.log(`deploying to ${String(initial)}`);
    const target = await new Promise<unknown>((resolve, reject) => {
      ctx.onMetadata((metadata) => resolve(metadata.target));
      ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
      ctx.log('waiting');
    });
    ctx.log(`target changed to ${String(target)}; deployed there`);
    return target === initial ? 'Succeeded' : 'SucceededWithIssues';
  },
});

/** For the many-agents tests: works `ms` milliseconds, then ends with the result its message names. */
export const quick = defineJob<{ ms: number; result: 'Succeeded' | 'SucceededWithIssues' }>(
  async (message, ctx) => {
    await sleep(message.ms, ctx.signal);
    return message.result;
  },
  { name: 'quick', module: import.meta.url },
);
