import { preloadDoor } from './door-preload.js';
import { runNode } from './main.js';

/**
 * The entry a launcher starts for a process node: `troupe node` and nothing else, so a node
 * loads only what it runs. The build bundles it (dist/bundle/process-node.js, scripts/bundle.mjs),
 * sharing its chunks with @troupe/core's doors, because a node's start-up time is spent mostly
 * resolving and reading modules, and a task module that imports @troupe/core then loads no
 * second copy.
 */
const args = process.argv.slice(2);
// `… process-node.js node --listen …` as well: a remote node's command is `troupe` followed by `node`,
// and this entry stands in for `troupe` where the build made it.
// Once it listens, while the host connects and sends its first request (door-preload.ts).
runNode(args[0] === 'node' ? args.slice(1) : args, { listening: preloadDoor }).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `troupe node: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
