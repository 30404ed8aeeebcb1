import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('examples/transport-demo', () => {
  it('runs to the end: packets, a large payload, a refused stranger, everything closed', async () => {
    const main = new URL('../dist/main.js', import.meta.url).pathname;
    const child = spawn(process.execPath, [main], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(out).toContain('the node saw 10000');
    expect(out).toContain('an 8 MiB packet arrived whole: true');
    expect(out).toMatch(/refused \(TROUPE_HANDSHAKE_MISMATCH, component: runtime version\)/);
    expect(out.trim().endsWith('done')).toBe(true);
    expect(code).toBe(0);
  });
});
