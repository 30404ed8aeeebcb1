// A user's script, run in a fresh process: prints the milliseconds from createRuntime to the first
// result of a trivial task from task.mjs (beside it) on one node of the kind given (thread or
// process). Its own start and its import of @troupe/core are not counted: the node's start, the
// task module's import on the node and the request are.
import { createRuntime } from '@troupe/core';

const kind = process.argv[2];
const start = performance.now();
const runtime = createRuntime({ nodes: { kind, max: 1 } });
const result = await runtime.build({
  task: `${new URL('./task.mjs', import.meta.url).href}#hello`,
  input: 'you',
});
const elapsed = performance.now() - start;
await runtime.shutdown();
if (result !== 'hello you') throw new Error(`unexpected result ${JSON.stringify(result)}`);
console.log(elapsed.toFixed(2));
