// floor.mjs's bare node: imports the user's task module (and through it @troupe/core), runs the
// task once and hands back its result, as a message from a worker_thread or a line on stdout.
import { isMainThread, parentPort } from 'node:worker_threads';

const { hello } = await import('./task.mjs');
const result = await hello.run('you');
if (isMainThread) process.stdout.write(`${result}\n`);
else parentPort.postMessage(result);
