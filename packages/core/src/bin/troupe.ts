import { NODE_USAGE, runNode } from '../node/main.js';
import { listNodes, shutdownAll } from '../nodes/shutdown-all.js';

const USAGE = `usage: troupe <command>
  troupe node [options]        run a node (what launchers start); --help for its options
  troupe nodes list [--json]   idle reusable nodes of this user: pid, age, handshake
  troupe nodes shutdown        ask every idle reusable node of this user to exit`;

function formatAge(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 3600)}h`;
}

async function main(argv: string[]): Promise<number> {
  const [command, sub, ...rest] = argv;
  if (command === 'node') return runNode(argv.slice(1));
  if (command === 'nodes' && sub === 'list') {
    const nodes = await listNodes({ now: Date.now() });
    if (rest.includes('--json')) {
      for (const node of nodes) process.stdout.write(`${JSON.stringify(node)}\n`);
    } else if (nodes.length === 0) {
      process.stderr.write('no idle reusable troupe nodes\n');
    } else {
      for (const node of nodes) {
        process.stdout.write(`${node.pid}\t${formatAge(node.ageMs)}\t${node.summary}\t${node.address}\n`);
      }
    }
    return 0;
  }
  if (command === 'nodes' && sub === 'shutdown') {
    const results = await shutdownAll();
    for (const result of results) {
      process.stdout.write(`${result.pid}\t${result.outcome}${result.detail ? `\t${result.detail}` : ''}\n`);
    }
    if (results.length === 0) process.stderr.write('no idle reusable troupe nodes\n');
    return results.some((r) => r.outcome === 'still-running') ? 1 : 0;
  }
  process.stderr.write(`${command === 'node' ? NODE_USAGE : USAGE}\n`);
  return command === undefined || command === '--help' || command === 'help' ? 0 : 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `troupe: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
