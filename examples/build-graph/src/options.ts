import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { split } from 'shlex';
import type { BuildOptions } from './build.js';

/** The default number of simulated nodes: a fixed number, so a --simulate run is the same on any machine. */
export const SIMULATED_NODES = 16;

export const USAGE = `usage: npm start -- [options]     (examples/build-graph)
  --projects N        projects to generate (default 800)
  --nodes N           nodes (default: this machine's available parallelism, ${availableParallelism()} here;
                      ${SIMULATED_NODES} with --simulate)
  --kind K            inproc | thread | process (default thread; process with --remote)
  --remote 'CMD'      one more node, on another machine: launched through the command prefix CMD
                      (split as a shell would, e.g. 'ssh build-02 --' or 'kubectl exec -i pod-3 --'),
                      beside the --nodes local process nodes (--nodes 0: remote only). Repeatable.
                      Its secret: TROUPE_SECRET if set, else a fresh one for the run, handed to each
                      node on its stdin (docs/remote.md)
  --reuse / --no-reuse  leave process nodes idle for the next run (default: no reuse)
  --work-ms MS        average simulated CPU work per project (default 5)
  --graph FILE        {"tasks":[{"id":"a","cost":5,"deps":["b"]}]} instead of a generated graph
  --mode M            requests (default): every project is a request | dispatcher: one worker
                      per node, fed by a dispatcher
  --discover          requests mode: each project's task asks for its dependencies itself
                      (ctx.build, MSBuild's model) instead of its request declaring them (the default)
  --restartable       with --discover: projects may be started again on a free node instead of
                      waiting for the busy node their run waits on (docs/scheduling.md)
  --no-yield          dispatcher mode: workers wait without yielding their node (deadlocks)
  --prefetch N|auto   requests mode: requests sent ahead to each busy node (default auto: one,
                      behind a task known to finish within a few ms); hides the round trip between
                      short tasks, but a request sent ahead waits for its node even when another
                      frees first (docs/scheduling.md)
  --simulate          virtual clock, in-process nodes, costs as virtual ms: deterministic and instant
  --trace FILE        the runtime's timeline, Chrome trace-event JSON (open in Perfetto)
  --dashboard [PORT]  serve the run's live view on http://127.0.0.1:PORT (default: a free port), its
                      address printed to stderr; closed when the run ends (docs/dashboard.md)
  --dashboard-host H  bind the live view to H instead; then TROUPE_DASHBOARD_TOKEN (an environment
                      variable, never an argument: at least 16 characters) must hold its token
  --summary           at the end, what the timeline says: the critical path, node utilisation,
                      time lost (queueing, blocking, start-up, stalls), the slowest projects
                      (to stderr with --json)
  --json              one final JSON line: built, failed, verified, mismatched, lostNodes,
                      nodes ([{ id, where: local | the --remote prefix, pid, completed }]), mode
                      (declared | discovered | restartable | dispatcher), makespanMs, startupMs, parallelism,
                      lowerBoundMs, ratio, ratioExcludingStartup, restarts, and error when not
                      every project was built
The lower bound is max(critical path, total work / parallelism), where parallelism is the nodes,
at most this machine's cores (${availableParallelism()}); with --simulate, the nodes; with --kind inproc, 1
(in-process nodes share the host's thread). Start-up (runtime created to first node ready) is
part of the makespan and shown on its own.`;

/** A command line that makes no sense: exit code 2, with the message. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** What the command line asks for. */
export type Command =
  | { help: true }
  | {
      help: false;
      options: Omit<BuildOptions, 'onProgress' | 'signal'>;
      json: boolean;
      trace: string | undefined;
      /** `--dashboard`: where to serve the live view (the token comes from the environment). */
      dashboard: { port: number; host?: string } | undefined;
      summary: boolean;
    };

function number(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0)
    throw new UsageError(`--${name} must be a positive number, not ${value}`);
  return parsed;
}

function count(name: string, value: string | undefined, or = ''): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0)
    throw new UsageError(`--${name} must be ${or}a whole number, 0 or more, not ${value}`);
  return parsed;
}

function oneOf<T extends string>(
  name: string,
  value: string | undefined,
  allowed: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T))
    throw new UsageError(`--${name} must be one of ${allowed.join(', ')}, not ${value}`);
  return value as T;
}

/**
 * The example's command line, checked: an unknown option, a bad value or options that do not go
 * together (--no-yield outside dispatcher mode, --discover with it) throw a UsageError. `cores`
 * is the machine's available parallelism, the default number of real nodes.
 */
export function parseCommand(args: readonly string[], cores = availableParallelism()): Command {
  let values: ReturnType<typeof parse>['values'];
  try {
    values = parse(withDashboardPort(args)).values;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) return { help: true };
  const mode = oneOf('mode', values.mode, ['dispatcher', 'requests'] as const, 'requests');
  if (values['no-yield'] && mode !== 'dispatcher')
    throw new UsageError(
      '--no-yield only applies to --mode dispatcher (its workers wait for work); in requests mode no task waits holding its node',
    );
  const simulate = Boolean(values.simulate);
  const remote = (values.remote ?? []).map((command) => {
    let prefix: string[];
    try {
      prefix = split(command);
    } catch (error) {
      throw new UsageError(`--remote ${command}: ${(error as Error).message}`);
    }
    if (prefix.length === 0)
      throw new UsageError('--remote needs a command prefix, e.g. --remote "ssh build-02 --"');
    return prefix;
  });
  const kind = oneOf(
    'kind',
    values.kind,
    ['inproc', 'thread', 'process'] as const,
    remote.length > 0 ? 'process' : 'thread',
  );
  if (remote.length > 0) {
    if (simulate) throw new UsageError('--remote starts real nodes elsewhere; a --simulate run has none');
    if (kind !== 'process')
      throw new UsageError(`--remote runs beside process nodes (--kind process), not ${kind} ones`);
    if (mode !== 'requests')
      throw new UsageError('--remote needs --mode requests (the dispatcher shares its queue in memory)');
    if (values.reuse) throw new UsageError('--reuse applies to local process nodes without --remote');
  }
  if (values.reuse && (simulate || kind !== 'process'))
    throw new UsageError(
      `--reuse leaves process nodes idle for the next run: it needs --kind process${simulate ? ', not --simulate' : ''}`,
    );
  if (mode === 'dispatcher' && kind !== 'inproc' && !simulate)
    throw new UsageError(
      '--mode dispatcher shares its queue in memory and needs --kind inproc (or --simulate); use --mode requests',
    );
  if (values.restartable && !values.discover)
    throw new UsageError(
      '--restartable only applies with --discover (a declared project never waits in ctx.build, so there is nothing to restart)',
    );
  const prefetch = values.prefetch === 'auto' ? 'auto' : count('prefetch', values.prefetch, 'auto or ');
  if (prefetch !== undefined && mode !== 'requests')
    throw new UsageError('--prefetch only applies to --mode requests (requests sent ahead to busy nodes)');
  if (values.discover && mode !== 'requests')
    throw new UsageError(
      '--discover only applies to --mode requests (how a project request gets its dependencies); the dispatcher hands out projects itself',
    );
  if (values['dashboard-host'] !== undefined && values.dashboard === undefined)
    throw new UsageError('--dashboard-host only applies with --dashboard');
  if (values.dashboard !== undefined && simulate)
    throw new UsageError(
      '--dashboard shows a run as it goes; a --simulate run is over at once, on virtual time',
    );
  const dashboardPort = values.dashboard === undefined ? undefined : Number(values.dashboard);
  if (
    dashboardPort !== undefined &&
    !(Number.isInteger(dashboardPort) && dashboardPort >= 0 && dashboardPort <= 65535)
  )
    throw new UsageError(`--dashboard takes a port (0 to 65535), not ${values.dashboard}`);
  return {
    help: false,
    options: {
      projects: Math.round(number('projects', values.projects, 800)),
      nodes:
        remote.length > 0 && values.nodes !== undefined
          ? count('nodes', values.nodes)!
          : Math.round(number('nodes', values.nodes, simulate ? SIMULATED_NODES : cores)),
      ...(remote.length > 0 && { remote }),
      kind,
      reuse: Boolean(values.reuse) && !values['no-reuse'],
      workMs: number('work-ms', values['work-ms'], 5),
      mode,
      model: values.restartable ? 'restartable' : values.discover ? 'discovered' : 'declared',
      yield: !values['no-yield'],
      simulate,
      cores,
      ...(values.graph !== undefined && { graph: values.graph }),
      ...(prefetch !== undefined && { prefetch }),
    },
    json: Boolean(values.json),
    trace: values.trace,
    dashboard:
      dashboardPort === undefined
        ? undefined
        : {
            port: dashboardPort,
            ...(values['dashboard-host'] !== undefined && { host: values['dashboard-host'] }),
          },
    summary: Boolean(values.summary),
  };
}

function parse(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    options: {
      projects: { type: 'string' },
      nodes: { type: 'string' },
      remote: { type: 'string', multiple: true },
      kind: { type: 'string' },
      reuse: { type: 'boolean' },
      'no-reuse': { type: 'boolean' },
      'work-ms': { type: 'string' },
      graph: { type: 'string' },
      mode: { type: 'string' },
      discover: { type: 'boolean' },
      restartable: { type: 'boolean' },
      'no-yield': { type: 'boolean' },
      simulate: { type: 'boolean' },
      prefetch: { type: 'string' },
      trace: { type: 'string' },
      dashboard: { type: 'string' },
      'dashboard-host': { type: 'string' },
      summary: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
}

/** `--dashboard` may stand without its port (the last argument, or before another option): port 0. */
function withDashboardPort(args: readonly string[]): string[] {
  return args.flatMap((arg, index) =>
    arg === '--dashboard' && (index === args.length - 1 || args[index + 1]!.startsWith('-'))
      ? [arg, '0']
      : [arg],
  );
}
