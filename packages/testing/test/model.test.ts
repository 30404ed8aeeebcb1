// The model checker on the real runtime: the unbroken runtime passes a bounded budget of
// schedules of every scenario (the full 10,000 each is `npm run check:model`), and each
// deliberately broken variant is found and replayed.
import { createRuntime, NodeContext } from '@troupe/core';
import { NodeEndpoint } from '@troupe/core/internal';
import {
  exhaustive,
  explore,
  formatTrace,
  type Monitor,
  oneHostPerNode,
  pct,
  randomWalk,
  replay,
  type Scenario,
  SimulatedNodeProvider,
} from '@troupe/testing';
import { monitorFor, runSchedule, builtInScenarios as scenarios } from '@troupe/testing/internal';
import { describe, expect, it } from 'vitest';

describe('model check: the unbroken runtime', () => {
  for (const scenario of scenarios) {
    it(`${scenario.name}: random walk, PCT and bounded exhaustive search find nothing`, async () => {
      for (const strategy of [randomWalk({ seed: 7 }), pct({ seed: 7 }), exhaustive({ depth: 8 })]) {
        const result = await explore(scenario, 'none', strategy, { schedules: 120, timeMs: 60_000 });
        expect(result.violation, result.trace).toBeUndefined();
        expect(result.schedules).toBeGreaterThan(0);
      }
    });
  }
});

describe('model check: the broken variants are found and replayed', () => {
  for (const scenario of scenarios) {
    for (const variant of scenario.variants ?? []) {
      it(`${scenario.name} / ${variant}`, async () => {
        const result = await explore(scenario, variant, randomWalk({ seed: 1 }), {
          schedules: 100_000,
          timeMs: 10_000,
        });
        expect(result.found).toBe(true);
        expect(result.replayed).toBe(true);
        expect(result.trace).toContain('violation');
        // The revert table (docs/testing.md): the monitor this variant must keep failing.
        expect(result.violation?.monitor).toBe(monitorFor(`${scenario.name}/${variant}`));
      });
    }
  }
});

describe('model check: a broken variant breaks its own world only', () => {
  it('after the accept-second-host variant is found, a node in a world of its own still refuses a second host', async () => {
    const reuse = scenarios.find((s) => s.name === 'reuse')!;
    const broken = await explore(reuse, 'accept-second-host', randomWalk({ seed: 1 }), {
      schedules: 100_000,
      timeMs: 10_000,
    });
    expect(broken.found).toBe(true);
    // Two hosts claim one fresh node at once: whichever comes second must be refused.
    const twoHosts: Scenario = {
      name: 'two hosts',
      setup(sim) {
        sim.addMonitor(oneHostPerNode());
        const host = (name: string, address: string) =>
          new NodeContext({
            id: name,
            kind: 'inproc',
            clock: sim.clock,
            connect: (onLink) => sim.transport.connect(address, { onLink, clock: sim.clock }),
          });
        return {
          async run() {
            const endpoint = await NodeEndpoint.start({
              transport: sim.transport,
              listen: { address: 'node-1', clock: sim.clock.for('node-1') },
              clock: sim.clock.for('node-1'),
            });
            const hosts = [host('host-a', endpoint.address), host('host-b', endpoint.address)];
            const claims = await Promise.allSettled(hosts.map((ctx, index) => ctx.start(index + 1)));
            const won = claims.filter((claim) => claim.status === 'fulfilled').length;
            if (won !== 1) throw new Error(`${won} hosts got the node`);
            await Promise.all(hosts.map((ctx) => ctx.close({ reuse: false })));
            await endpoint.exit();
          },
        };
      },
    };
    const result = await explore(twoHosts, 'none', randomWalk({ seed: 1 }), { schedules: 20 });
    expect(result.violation, result.trace).toBeUndefined();
    expect(result.schedules).toBe(20);
  });
});

describe('simulation', () => {
  it('gives simulated nodes pids of their own, so nothing a world reports depends on the real process', async () => {
    const pings: Scenario = {
      name: 'pings',
      setup(sim) {
        const runtime = createRuntime({
          nodes: { provider: new SimulatedNodeProvider(sim), max: 2 },
          clock: sim.clock,
          random: sim.random,
        });
        return {
          async run() {
            const answers = await runtime.build<{ pid: number }>([
              { task: 'troupe:ping', input: 1 },
              { task: 'troupe:ping', input: 2 },
            ]);
            await runtime.shutdown();
            const pids = [...answers.map((a) => a.pid), ...runtime.nodes.map((node) => node.pid)];
            if (pids.includes(process.pid)) throw new Error(`a simulated node reported pid ${process.pid}`);
          },
        };
      },
    };
    const result = await explore(pings, 'none', randomWalk({ seed: 2 }), { schedules: 20 });
    expect(result.violation, result.trace).toBeUndefined();
  });

  it('is deterministic: a schedule replays to the same trace, step for step', async () => {
    const build = scenarios.find((s) => s.name === 'build')!;
    const strategy = randomWalk({ seed: 3, faultChance: 0.02 });
    const { seed, chooser } = strategy.schedule(0)!;
    const first = await runSchedule(build, 'none', seed, chooser, { tracing: true });
    const again = await replay(build, first.schedule);
    expect(again.trace.map((e) => e.text)).toEqual(first.trace.map((e) => e.text));
    expect(first.trace.length).toBeGreaterThan(20);
    expect(formatTrace(again)).toMatch(/deliver m1:connector → memory:\/\/node-1 #0/);
  });

  it('a schedule that does not fit the world says where it stops fitting', async () => {
    const build = scenarios.find((s) => s.name === 'build')!;
    await expect(
      replay(build, { scenario: 'build', variant: 'none', seed: 1, choices: [99] }),
    ).rejects.toThrow(/chose 99 of \d+ enabled steps/);
  });

  it('runs a scenario and a monitor written by a user, and reports what the monitor saw', async () => {
    // A user's monitor: no request of the task "leaf" may run on node-2.
    const noLeafOnNode2: Monitor = {
      name: 'no leaf on node-2',
      onPacket(packet, phase, sim) {
        if (phase === 'written' && packet.name === 'BuildRequest' && packet.to.endsWith('node-2')) {
          const task = (packet.body as { task: string }).task;
          if (task.endsWith('#leaf')) sim.violate(this.name, `leaf ran on node-2`);
        }
      },
    };
    const scenario: Scenario = {
      name: 'leaves',
      setup(sim) {
        const runtime = createRuntime({
          nodes: { provider: new SimulatedNodeProvider(sim), max: 2 },
          clock: sim.clock,
          random: sim.random,
        });
        sim.addMonitor(noLeafOnNode2);
        const leaf = new URL('../dist/scenarios/tasks.js', import.meta.url).href;
        return {
          async run() {
            await runtime.build(['a', 'b', 'c'].map((id) => ({ task: `${leaf}#leaf`, input: { id } })));
            await runtime.shutdown();
          },
        };
      },
    };
    const result = await explore(scenario, 'none', randomWalk(), { schedules: 200 });
    expect(result.found).toBe(true);
    expect(result.violation).toEqual({ monitor: 'no leaf on node-2', message: 'leaf ran on node-2' });
    expect(result.replayed).toBe(true);
  });

  it('reports a deadlock: work remains and no step is enabled', async () => {
    const scenario: Scenario = {
      name: 'stuck',
      setup() {
        return { run: () => new Promise<void>(() => {}) };
      },
    };
    const result = await runSchedule(scenario, 'none', 1, { choose: () => 0 });
    expect(result.violation?.monitor).toBe('deadlock');
  });

  it('reports no progress past the step bound', async () => {
    const scenario: Scenario = {
      name: 'busy',
      maxSteps: 50,
      setup(sim) {
        const tick = () => sim.clock.setTimeout(tick, 1);
        tick();
        return { run: () => new Promise<void>(() => {}) };
      },
    };
    const result = await runSchedule(scenario, 'none', 1, { choose: () => 0 });
    expect(result.violation).toEqual({
      monitor: 'no progress',
      message: 'the scenario did not finish within 50 steps',
    });
  });
});
