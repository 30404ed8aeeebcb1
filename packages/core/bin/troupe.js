#!/usr/bin/env node
// The installed `troupe` command. A plain file outside dist/ so that npm can link it at install
// time, before the TypeScript is built; the real entry is compiled to dist/bin/troupe.js.
import '../dist/bin/troupe.js';
