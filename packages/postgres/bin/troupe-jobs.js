#!/usr/bin/env node
// The installed `troupe-jobs` command (what `troupe jobs` runs). A plain file outside dist/ so
// that npm can link it at install time, before the TypeScript is built.
import '../dist/bin/troupe-jobs.js';
