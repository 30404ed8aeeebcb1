// The floor's node (bench/src/floor.ts): bare worker_threads or a bare child process that spins
// for the milliseconds each message names and answers with the message's id. Nothing of troupe:
// its spin is the build-graph example's project work (a module with no imports), so the floor
// does the same work as the build it is the floor of.
import { parentPort } from 'node:worker_threads';
import { spin } from '@troupe/example-build-graph/work';

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
