// The floor's node (bench/src/floor.ts): bare worker_threads or a bare child process that spins
// for the milliseconds each message names and answers with the message's id. Nothing of troupe.
import { parentPort } from 'node:worker_threads';

function spin(ms) {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // Busy on purpose, as the build-graph example's tasks are.
  }
}

if (parentPort) {
  parentPort.on('message', (m) => {
    spin(m.ms);
    parentPort.postMessage(m.id);
  });
} else {
  process.on('message', (m) => {
    spin(m.ms);
    process.send(m.id);
  });
  process.on('disconnect', () => process.exit(0));
  process.send('ready');
}
