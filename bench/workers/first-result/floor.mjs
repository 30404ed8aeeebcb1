// The floor under host.mjs: what any runtime must at least do for that first result, with no
// runtime at all. A bare node of the kind given (a worker_thread, or a child process of
// `node floor-node.mjs`) imports task.mjs, which imports @troupe/core as the user's module does,
// runs the task and hands its result back (a message, or a line on stdout). Prints the
// milliseconds from starting the node to having the result, as host.mjs does.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

const kind = process.argv[2];
const entry = new URL('./floor-node.mjs', import.meta.url);
const start = performance.now();
const result = await new Promise((resolve, reject) => {
  if (kind === 'thread') {
    const worker = new Worker(entry);
    worker.once('message', (message) => {
      resolve(message);
      void worker.terminate();
    });
    worker.once('error', reject);
    return;
  }
  if (kind !== 'process') throw new Error(`usage: floor.mjs thread|process, not ${kind}`);
  const child = spawn(process.execPath, [fileURLToPath(entry)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk) => {
    out += chunk;
    if (out.endsWith('\n')) resolve(out.trim());
  });
  child.once('error', reject);
  child.once('exit', (code) => {
    if (!out.endsWith('\n')) reject(new Error(`floor-node.mjs exited with ${code} before its result`));
  });
});
const elapsed = performance.now() - start;
if (result !== 'hello you') throw new Error(`unexpected result ${JSON.stringify(result)}`);
console.log(elapsed.toFixed(2));
