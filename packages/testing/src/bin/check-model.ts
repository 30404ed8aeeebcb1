import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { crashScenario } from '../scenarios/crash.js';
import { scenarios } from '../scenarios/index.js';
import type { VerifiedBound } from '../sim/exhaustive.js';
import { type ExploreResult, explore as exploreHere, verify } from '../sim/explore.js';
import { ExplorerPool } from '../sim/pool.js';
import type { Scenario } from '../sim/scenario.js';
import { replay } from '../sim/schedule.js';
import { shortestCounterexample } from '../sim/shortest.js';
import { sameViolation, shrink } from '../sim/shrink.js';
import { formatStory } from '../sim/story.js';
import { pct, randomWalk, type Strategy } from '../sim/strategies.js';

const USAGE = `usage: npm run check:model -- [options]
  --schedules N     schedules per scenario for the unbroken runtime (default 10000), split
                    between random walk, PCT and bounded exhaustive search (the last third
                    topped up with random walk if the exhaustive search takes fewer)
  --variant-ms MS   time budget to find each broken variant's bug (default 10000)
  --scenario NAME   only this scenario (build, hang, pipeline, cancel, dispatcher, shutdown, jobs, fence,
                    reuse, restart, retry, partition; or crash, 3 requests on 2 nodes and one crash, which
                    bounded exhaustive search verifies to its end given --verify-ms 600000)
  --seed N          first seed (default 1)
  --workers N       worker processes exploring random-walk and PCT schedules side by side
                    (default: one per core; 0 explores on this thread)
  --verify-ms MS    time budget of each scenario's bounded exhaustive search, whose bound doubles
                    while time is left (default 20000)
  --shrink-ms MS    time budget to shrink each violation found to a short schedule that breaks
                    the same monitor (default 10000; 0 does not shrink)
  --shortest        also search, by bounded exhaustive search of increasing depth, for each
                    broken variant's shortest counterexample, to compare the shrunk one with
                    (slow: up to a minute per variant)
  --json            one JSON line per scenario and variant: scenario, variant, found, ms,
                    schedules, replayed, and for a violation found: steps (its schedule's length),
                    shrunkSteps (after shrinking), shortestSteps (with --shortest)
  --trace           print each violation found as a story: its shrunk schedule, step by step`;

interface Line {
  scenario: string;
  variant: string;
  found: boolean;
  ms: number;
  schedules: number;
  replayed?: boolean;
  strategy: string;
  violation?: string;
  verifiedSteps?: number;
  verifiedFaults?: number;
  verifiedStates?: number;
  /** The violating schedule's length, and its shrunk one's. */
  steps?: number;
  shrunkSteps?: number;
  shrinkMs?: number;
  /** The shortest that bounded exhaustive search finds (`--shortest`), and at what depth. */
  shortestSteps?: number | null;
  shortestDepth?: number;
}

/** What `--trace` prints and the line reports for a violation: shrunk, replayed, told as a story. */
interface Shrunk {
  fields: Pick<Line, 'steps' | 'shrunkSteps' | 'shrinkMs' | 'shortestSteps' | 'shortestDepth'>;
  /** The shrunk schedule replays to the same monitor (the original's replay is checked apart). */
  replayed: boolean;
  story: string;
}

async function shrinkFound(
  scenario: Scenario,
  result: ExploreResult,
  options: { shrinkMs: number; shortest: boolean },
): Promise<Shrunk | undefined> {
  const { schedule, violation } = result;
  if (!schedule || !violation) return undefined;
  const steps = schedule.choices.length;
  const shrunk =
    options.shrinkMs > 0 ? await shrink(scenario, schedule, { timeMs: options.shrinkMs }) : undefined;
  const again = await replay(scenario, shrunk?.schedule ?? schedule);
  const fields: Shrunk['fields'] = {
    steps,
    ...(shrunk && { shrunkSteps: shrunk.shrunkSteps, shrinkMs: Math.round(shrunk.ms) }),
  };
  // A `no progress` violation is as long as the step bound whatever the schedule: nothing to measure.
  if (options.shortest && violation.monitor !== 'no progress') {
    const shortest = await shortestCounterexample(scenario, schedule.variant, violation);
    fields.shortestSteps = shortest.steps ?? null;
    // Where the shortest was found, or how deep the search got without finding one.
    fields.shortestDepth = shortest.shortestAt ?? shortest.depth;
  }
  return {
    fields,
    replayed: again.violation !== undefined && sameViolation(violation, again.violation),
    story: formatStory(again, { shrunkFrom: steps }),
  };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      schedules: { type: 'string' },
      'variant-ms': { type: 'string' },
      'verify-ms': { type: 'string' },
      scenario: { type: 'string' },
      seed: { type: 'string' },
      workers: { type: 'string' },
      'shrink-ms': { type: 'string' },
      shortest: { type: 'boolean' },
      json: { type: 'boolean' },
      trace: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const total = Number(values.schedules ?? 10_000);
  const variantMs = Number(values['variant-ms'] ?? 10_000);
  const verifyMs = Number(values['verify-ms'] ?? 20_000);
  const seed = Number(values.seed ?? 1);
  const shrinkMs = Number(values['shrink-ms'] ?? 10_000);
  const workers = values.workers === undefined ? availableParallelism() : Number(values.workers);
  if (
    !(total > 0) ||
    !(variantMs > 0) ||
    !(verifyMs > 0) ||
    !(shrinkMs >= 0) ||
    !Number.isInteger(seed) ||
    !(Number.isInteger(workers) && workers >= 0)
  )
    throw new Error('bad option value');
  const pool = workers > 0 ? new ExplorerPool({ workers }) : undefined;
  try {
    return await check(values, {
      total,
      variantMs,
      verifyMs,
      seed,
      pool,
      shrinkMs,
      shortest: values.shortest ?? false,
    });
  } finally {
    await pool?.close();
  }
}

async function check(
  values: { scenario?: string | undefined; json?: boolean | undefined; trace?: boolean | undefined },
  {
    total,
    variantMs,
    verifyMs,
    seed,
    pool,
    shrinkMs,
    shortest,
  }: {
    total: number;
    variantMs: number;
    verifyMs: number;
    seed: number;
    pool: ExplorerPool | undefined;
    shrinkMs: number;
    shortest: boolean;
  },
): Promise<number> {
  const explore = pool ? pool.explore.bind(pool) : exploreHere;
  // `crash` (the yardstick of exhaustive search) only when named: it is verified, not sampled.
  const chosen = [...scenarios, crashScenario].filter((s) =>
    values.scenario ? s.name === values.scenario : s !== crashScenario,
  );
  if (chosen.length === 0) throw new Error(`no scenario named ${values.scenario}`);
  let bad = 0;
  const report = (line: Line, shrunk: Shrunk | undefined, verified?: VerifiedBound) => {
    if (values.json) process.stdout.write(`${JSON.stringify(line)}\n`);
    else {
      const length =
        line.steps === undefined
          ? ''
          : `, ${line.steps} steps` +
            (line.shrunkSteps === undefined ? '' : ` shrunk to ${line.shrunkSteps} in ${line.shrinkMs} ms`) +
            (line.shortestSteps === undefined
              ? ''
              : ` (shortest by exhaustive search: ${line.shortestSteps ?? 'none found'})`);
      const what =
        line.variant === 'none'
          ? line.found
            ? `VIOLATION after ${line.schedules} schedules${length}: ${line.violation}`
            : `ok, ${line.schedules} schedules`
          : line.found
            ? `found by ${line.strategy} in ${line.ms} ms (${line.schedules} schedules)${length}, replayed: ${line.replayed}`
            : `NOT FOUND in ${line.schedules} schedules`;
      process.stdout.write(`${line.scenario.padEnd(11)} ${line.variant.padEnd(36)} ${what}\n`);
      if (verified) process.stdout.write(`${''.padEnd(48)} ${describeVerified(verified)}\n`);
    }
    if (values.trace && shrunk) process.stderr.write(`${shrunk.story}\n\n`);
  };
  for (const scenario of chosen) {
    // The unbroken runtime: every strategy, none may find anything.
    const third = Math.ceil(total / 3);
    const strategies: Array<[Strategy | 'verify', number]> = [
      [randomWalk({ seed }), third],
      [pct({ seed, depth: 3 }), third],
      ['verify', total - 2 * third],
    ];
    let schedules = 0;
    let ms = 0;
    let failure: ExploreResult | undefined;
    let verified: VerifiedBound | undefined;
    for (const [strategy, budget] of strategies) {
      // Bounded exhaustive search, its bound doubling while its time lasts: what it completes is
      // what it verified.
      const result =
        strategy === 'verify'
          ? await verify(scenario, 'none', { timeMs: verifyMs })
          : await explore(scenario, 'none', strategy, { schedules: budget, timeMs: 10 * 60_000 });
      verified ??= result.verified;
      schedules += result.schedules;
      ms += result.ms;
      if (result.found) {
        failure = result;
        break;
      }
      // An exhausted search space ends early: top up with random schedules.
      if (result.schedules < budget) {
        const more = await explore(scenario, 'none', randomWalk({ seed: seed + 1_000_000 }), {
          schedules: budget - result.schedules,
          timeMs: 10 * 60_000,
        });
        schedules += more.schedules;
        ms += more.ms;
        if (more.found) {
          failure = more;
          break;
        }
      }
    }
    const unbroken: Line = {
      scenario: scenario.name,
      variant: 'none',
      found: failure !== undefined,
      ms: Math.round(ms),
      schedules,
      strategy: failure?.strategy ?? 'random+pct+exhaustive',
      ...(failure?.replayed !== undefined && { replayed: failure.replayed }),
      ...(failure?.violation && { violation: `${failure.violation.monitor}: ${failure.violation.message}` }),
      ...(verified &&
        !failure && {
          verifiedSteps: verified.steps,
          verifiedFaults: verified.faults,
          verifiedStates: verified.states,
        }),
    };
    if (failure) bad++;
    const shrunkFailure = failure && (await shrinkFound(scenario, failure, { shrinkMs, shortest: false }));
    report({ ...unbroken, ...shrunkFailure?.fields }, shrunkFailure, failure ? undefined : verified);
    for (const variant of scenario.variants ?? []) {
      // A broken runtime: random walk first, then PCT, within the time budget.
      let result = await explore(scenario, variant, randomWalk({ seed }), {
        timeMs: variantMs / 2,
        schedules: 1e9,
      });
      if (!result.found) {
        const second = await explore(scenario, variant, pct({ seed }), {
          timeMs: variantMs / 2,
          schedules: 1e9,
        });
        result = { ...second, ms: result.ms + second.ms, schedules: result.schedules + second.schedules };
      }
      const line: Line = {
        scenario: scenario.name,
        variant,
        found: result.found,
        ms: Math.round(result.ms),
        schedules: result.schedules,
        strategy: result.strategy,
        ...(result.replayed !== undefined && { replayed: result.replayed }),
        ...(result.violation && { violation: `${result.violation.monitor}: ${result.violation.message}` }),
      };
      const shrunk = await shrinkFound(scenario, result, { shrinkMs, shortest });
      if (!result.found || !result.replayed || (shrunk && !shrunk.replayed)) bad++;
      // Replayed: the schedule found, and the shrunk one, both break the same monitor again.
      if (shrunk && line.replayed !== undefined) line.replayed &&= shrunk.replayed;
      report({ ...line, ...shrunk?.fields }, shrunk);
    }
  }
  return bad === 0 ? 0 : 1;
}

function describeVerified(verified: VerifiedBound): string {
  const faults =
    verified.faults === 0
      ? 'without faults'
      : `with up to ${verified.faults} fault${verified.faults === 1 ? '' : 's'}`;
  return verified.complete
    ? `verified: every schedule to its end ${faults} (all shorter than ${verified.steps} steps), ${verified.states} distinct states`
    : `verified up to ${verified.steps} steps ${faults}, ${verified.states} distinct states`;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `check:model: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 2;
  },
);
