// Bundles the package's doors (dist/index.js, dist/internal.js) and the entries of its nodes (a
// process node's `troupe node`, a thread node's worker) into dist/bundle/, with the chunks they
// share. A node's start-up is mostly spent resolving and reading modules (on a slow machine ~1 ms a
// file; xstate alone ~20 ms through its CommonJS wrapper), and a task module that imports
// @troupe/core (for defineTask) loads the door the node already loaded: the same files, so a
// node's first task pays for no second copy of troupe. @troupe/transport stays external (one copy
// of its classes for everyone: errors are checked with instanceof); xstate, eventemitter3 and
// nanoid are bundled, but xstate is the copy @troupe/transport's bundle carries (its
// `./internal/xstate` door), so a node compiles one xstate, not two. Run by `npm run build` after
// tsc, and after transport's bundle.
import { rmSync } from 'node:fs';
import { build } from 'esbuild';
import { bundleOptions } from '../../../scripts/bundle-options.mjs';

const dist = new URL('../dist/', import.meta.url);
// Chunks are named by their content: the last build's would otherwise stay beside the new ones.
rmSync(new URL('bundle/', dist), { recursive: true, force: true });
const from = (file) => new URL(file, dist).pathname;

await build({
  entryPoints: {
    index: from('index.js'),
    internal: from('internal.js'),
    'process-node': from('endpoint/process-entry.js'),
    'thread-node': from('endpoint/thread-entry.js'),
  },
  outdir: from('bundle/'),
  ...bundleOptions,
  // OpenTelemetry is the user's, if they have it: loaded where it is installed, never carried here.
  external: [
    '@troupe/transport',
    '@troupe/transport/internal',
    '@troupe/transport/internal/xstate',
    '@opentelemetry/api',
  ],
  alias: { xstate: '@troupe/transport/internal/xstate' },
});
