// Preloaded (NODE_OPTIONS=--import) into every Node process a workload tool starts: at exit it
// writes the process's peak resident set size (kB) to PEAK_RSS_DIR/<pid>, so the bench can report
// memory per process for tools that give no figure of their own.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMainThread } from 'node:worker_threads';

const directory = process.env.PEAK_RSS_DIR;
if (directory && isMainThread)
  process.on('exit', () => {
    writeFileSync(join(directory, String(process.pid)), String(process.resourceUsage().maxRSS));
  });
