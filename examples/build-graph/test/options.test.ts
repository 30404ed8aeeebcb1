import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { boundParallelism } from '../dist/build.js';
import { parseCommand, SIMULATED_NODES, USAGE, UsageError } from '../dist/options.js';

const main = new URL('../dist/main.js', import.meta.url).pathname;

function run(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [main, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    child.on('exit', (code) => resolve({ code, out, err }));
  });
}

function options(args: string[], cores?: number) {
  const command = parseCommand(args, cores);
  if (command.help) throw new Error('expected a build, not --help');
  return command.options;
}

describe('examples/build-graph command line', () => {
  it('real nodes default to the machine: one per core (availableParallelism)', () => {
    expect(options([]).nodes).toBe(availableParallelism());
    expect(options([], 6).nodes).toBe(6);
    expect(options(['--kind', 'process'], 3)).toMatchObject({ nodes: 3, cores: 3, simulate: false });
    expect(options(['--nodes', '5'], 3).nodes).toBe(5);
  });

  it('simulated nodes default to a fixed 16, whatever the machine, so a --simulate run is the same everywhere', () => {
    expect(SIMULATED_NODES).toBe(16);
    expect(options(['--simulate'], 3).nodes).toBe(16);
    expect(options(['--simulate'], 64).nodes).toBe(16);
  });

  it('declared dependencies by default, --discover for ctx.build', () => {
    expect(options([]).model).toBe('declared');
    expect(options(['--discover']).model).toBe('discovered');
    expect(options(['--discover', '--restartable']).model).toBe('restartable');
    expect(() => parseCommand(['--restartable'])).toThrow(/--restartable only applies with --discover/);
    expect(options(['--mode', 'requests', '--discover', '--simulate']).model).toBe('discovered');
  });

  it('--dashboard takes an optional port, --dashboard-host goes with it, and neither runs under --simulate', () => {
    const dashboard = (args: string[]) => {
      const command = parseCommand(args, 2);
      if (command.help) throw new Error('expected a build, not --help');
      return command.dashboard;
    };
    expect(dashboard([])).toBeUndefined();
    expect(dashboard(['--dashboard'])).toEqual({ port: 0 });
    expect(dashboard(['--dashboard', '--nodes', '2'])).toEqual({ port: 0 });
    expect(dashboard(['--dashboard', '8080'])).toEqual({ port: 8080 });
    expect(dashboard(['--dashboard=9000', '--dashboard-host', '127.0.0.2'])).toEqual({
      port: 9000,
      host: '127.0.0.2',
    });
    expect(() => dashboard(['--dashboard', 'x'])).toThrow(/--dashboard takes a port \(0 to 65535\), not x/);
    expect(() => dashboard(['--dashboard', '70000'])).toThrow(UsageError);
    expect(() => dashboard(['--dashboard-host', '0.0.0.0'])).toThrow(
      /--dashboard-host only applies with --dashboard/,
    );
    expect(() => dashboard(['--dashboard', '--simulate'])).toThrow(/--simulate run is over at once/);
  });

  it('a live view bound beyond 127.0.0.1 without TROUPE_DASHBOARD_TOKEN is refused before anything is built', async () => {
    const { code, out, err } = await run(['--projects', '5', '--dashboard', '--dashboard-host', '127.0.0.2']);
    expect(code).toBe(2);
    expect(err).toMatch(/option token must be given when host is not 127\.0\.0\.1/);
    expect(out).not.toContain('built');
  });

  it('--prefetch takes a whole number or auto for requests mode, and is refused elsewhere, saying why', () => {
    expect(options([]).prefetch).toBeUndefined();
    expect(options(['--prefetch', '2']).prefetch).toBe(2);
    expect(options(['--prefetch', '0']).prefetch).toBe(0);
    expect(options(['--prefetch', 'auto']).prefetch).toBe('auto');
    expect(() => options(['--prefetch', 'always'])).toThrow(
      /--prefetch must be auto or a whole number, 0 or more, not always/,
    );
    expect(() => options(['--prefetch=-1'])).toThrow(/--prefetch must be auto or a whole number/);
    expect(() => options(['--prefetch', '1.5'])).toThrow(UsageError);
    expect(() => options(['--mode', 'dispatcher', '--kind', 'inproc', '--prefetch', '1'])).toThrow(
      /--prefetch only applies to --mode requests/,
    );
  });

  it('--no-yield outside dispatcher mode is refused, saying why', () => {
    expect(() => parseCommand(['--no-yield'])).toThrow(UsageError);
    expect(() => parseCommand(['--no-yield', '--mode', 'requests', '--simulate'])).toThrow(
      /--no-yield only applies to --mode dispatcher/,
    );
    expect(options(['--no-yield', '--mode', 'dispatcher', '--simulate']).yield).toBe(false);
  });

  it('--discover with dispatcher mode is refused, and so is dispatcher mode on thread or process nodes', () => {
    expect(() => parseCommand(['--discover', '--mode', 'dispatcher', '--simulate'])).toThrow(
      /--discover only applies to --mode requests/,
    );
    expect(() => parseCommand(['--mode', 'dispatcher'])).toThrow(/needs --kind inproc \(or --simulate\)/);
    expect(options(['--mode', 'dispatcher', '--kind', 'inproc']).mode).toBe('dispatcher');
  });

  it('--reuse needs process nodes, and is refused on others before anything starts, saying why', () => {
    expect(() => parseCommand(['--reuse'])).toThrow(
      /--reuse leaves process nodes idle for the next run: it needs --kind process$/,
    );
    expect(() => parseCommand(['--reuse', '--kind', 'process', '--simulate'])).toThrow(
      /needs --kind process, not --simulate/,
    );
    expect(options(['--reuse', '--kind', 'process']).reuse).toBe(true);
  });

  it('bad values and unknown options are usage errors', () => {
    expect(() => parseCommand(['--nodes', '0'])).toThrow(/--nodes must be a positive number, not 0/);
    expect(() => parseCommand(['--kind', 'fibre'])).toThrow(/--kind must be one of inproc, thread, process/);
    expect(() => parseCommand(['--frobnicate'])).toThrow(UsageError);
    expect(parseCommand(['--help'])).toEqual({ help: true });
    expect(USAGE).toMatch(/--discover/);
  });

  it('the lower bound runs nodes at once, at most one per core; all of them under --simulate; one in-process', () => {
    expect(boundParallelism({ simulate: false, kind: 'thread', nodes: 16, cores: 2 })).toBe(2);
    expect(boundParallelism({ simulate: false, kind: 'process', nodes: 2, cores: 8 })).toBe(2);
    expect(boundParallelism({ simulate: true, kind: 'thread', nodes: 16, cores: 2 })).toBe(16);
    // In-process nodes share the host's thread: their busy work runs one project at a time.
    expect(boundParallelism({ simulate: false, kind: 'inproc', nodes: 4, cores: 8 })).toBe(1);
  });

  it('the command exits 2 with the message on a usage error, before building anything', async () => {
    const refused = await run(['--no-yield', '--simulate', '--json']);
    expect(refused.code).toBe(2);
    expect(refused.out).toBe('');
    expect(refused.err).toMatch(/--no-yield only applies to --mode dispatcher/);
  });
});
