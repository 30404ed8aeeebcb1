// Bundles the package's two doors (dist/index.js, dist/internal.js) and its dependencies (msgpackr,
// xstate, nanoid, eventemitter3) into dist/bundle/, the files package.json's exports name: the
// doors and the chunk of code they share, so loading either reads three files instead of ~40
// modules. A node's start-up and a task module's first import are mostly spent resolving, reading
// and compiling modules (on a slow machine ~1 ms a file). Run by `npm run build` after tsc; the
// typings stay tsc's.
//
// Two choices keep a node's start small:
// - msgpackr's plain ES module entry, not its Node entry: that one probes for the optional native
//   string decoder at load (node-gyp-build and detect-libc, which asks for a process report),
//   ~30 ms of a node's start; and a bundle never found the addon anyway.
// - a third entry, `xstate`, that re-exports the xstate bundled here: @troupe/core's bundle takes
//   xstate from it (`@troupe/transport/internal/xstate`) rather than bundling a second copy, so a
//   node compiles one xstate, not two.
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { build } from 'esbuild';
import { bundleOptions } from '../../../scripts/bundle-options.mjs';

const dist = new URL('../dist/', import.meta.url);
// Chunks are named by their content: the last build's would otherwise stay beside the new ones.
rmSync(new URL('bundle/', dist), { recursive: true, force: true });

const require = createRequire(import.meta.url);
const msgpackrEntry = join(dirname(require.resolve('msgpackr')), '..', 'index.js');

/** `msgpackr` is its plain entry; `troupe:xstate` is the module that re-exports xstate. */
const resolveDependencies = {
  name: 'troupe-dependencies',
  setup(build) {
    build.onResolve({ filter: /^msgpackr$/ }, () => ({ path: msgpackrEntry }));
    build.onResolve({ filter: /^troupe:xstate$/ }, () => ({ path: 'xstate', namespace: 'troupe' }));
    build.onLoad({ filter: /.*/, namespace: 'troupe' }, () => ({
      contents: "export * from 'xstate';",
      resolveDir: new URL('.', import.meta.url).pathname,
    }));
  },
};

await build({
  entryPoints: {
    index: new URL('index.js', dist).pathname,
    internal: new URL('internal.js', dist).pathname,
    xstate: 'troupe:xstate',
  },
  outdir: new URL('bundle/', dist).pathname,
  plugins: [resolveDependencies],
  ...bundleOptions,
});
