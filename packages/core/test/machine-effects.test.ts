// Core's machines are built once per module and get their owner's effects per actor, through a key
// in their context (`bindXEffects`, docs/architecture.md): each actor reaches its own owner, guards
// and delays that read the world ask the right one, and an actor nobody bound does nothing.
import {
  bindJobSlotEffects,
  bindNodeContextEffects,
  bindNodeEndpointEffects,
  bindSchedulerEffects,
  type JobSlotEffects,
  jobSlotMachine,
  type NodeContextEffects,
  type NodeEndpointEffects,
  nodeContextMachine,
  nodeEndpointMachine,
  schedulerMachine,
} from '@troupe/core/internal';
import { VirtualClock } from '@troupe/testing';
import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';

/** A node context's world: how long its node has been silent, and what the machine did. */
function nodeWorld(silentMs: () => number) {
  const calls: string[] = [];
  const effects: NodeContextEffects = {
    holdsWork: () => true,
    heartbeats: () => false,
    silentFor: silentMs,
    pingIntervalMs: () => 100,
    pingTimeoutMs: () => 250,
    watchFromNow: () => calls.push('watch'),
    ping: () => calls.push('ping'),
    declareLost: () => calls.push('lost'),
    ended: () => calls.push('ended'),
  };
  return { calls, effects };
}

function activeNodeContext(clock: VirtualClock, effects: NodeContextEffects | undefined) {
  const actor = createActor(nodeContextMachine, {
    clock,
    input: { effects: effects && bindNodeContextEffects(effects) },
  }).start();
  for (const type of ['link.created', 'link.opened', 'work.held'] as const) actor.send({ type });
  return actor;
}

describe('machines with bound effects', () => {
  it('two node contexts of the one machine each reach their own owner, guards and delay included', () => {
    const clock = new VirtualClock();
    const silent = nodeWorld(() => clock.now());
    const answering = nodeWorld(() => 0);
    const a = activeNodeContext(clock, silent.effects);
    const b = activeNodeContext(clock, answering.effects);
    // The ping interval is the owner's (100 ms, not the unbound 1 s); at 300 ms the silent one is
    // past its 250 ms bound.
    clock.advance(300);
    expect(a.getSnapshot().value.connection).toBe('lost');
    expect(silent.calls).toEqual(['watch', 'ping', 'ping', 'lost']);
    expect(b.getSnapshot().value.connection).toEqual({ active: 'watching' });
    expect(answering.calls).toEqual(['watch', 'ping', 'ping', 'ping']);
    a.stop();
    b.stop();
  });

  it('an unbound node context walks its states and does nothing: no pings, never lost', () => {
    const clock = new VirtualClock();
    const actor = activeNodeContext(clock, undefined);
    expect(actor.getSnapshot().value.connection).toEqual({ active: 'watching' });
    // Unbound, it holds no work: the first tick (one second) finds nothing to watch.
    clock.advance(1_000);
    expect(actor.getSnapshot().value.connection).toEqual({ active: 'quiet' });
    actor.send({ type: 'context.closing' });
    actor.send({ type: 'link.closed' });
    expect(actor.getSnapshot().value.connection).toBe('closed');
    expect(clock.pending).toBe(0);
  });

  it('the scheduler machine asks its owner how long it has been quiet, and reports a stall once', () => {
    const clock = new VirtualClock();
    let lastProgress = 0;
    const calls: string[] = [];
    const actor = createActor(schedulerMachine, {
      clock,
      input: {
        stallTimeoutMs: 100,
        stallErrorMs: 1_000,
        effects: bindSchedulerEffects({
          reportStall: () => calls.push('stall'),
          failStall: () => calls.push('fail'),
          quietFor: () => clock.now() - lastProgress,
        }),
      },
    }).start();
    actor.send({ type: 'stall.suspected' });
    clock.advance(60);
    lastProgress = clock.now();
    // The check at 100 ms finds 40 ms of quiet and waits out the other 60.
    clock.advance(40);
    expect(actor.getSnapshot().value).toBe('suspected');
    clock.advance(60);
    expect(actor.getSnapshot().value).toBe('stalled');
    expect(calls).toEqual(['stall']);
    actor.stop();
  });

  it('an unbound scheduler machine never calls a suspected stall a stall', () => {
    const clock = new VirtualClock();
    const actor = createActor(schedulerMachine, {
      clock,
      input: { stallTimeoutMs: 100, stallErrorMs: 1_000, effects: undefined },
    }).start();
    actor.send({ type: 'stall.suspected' });
    clock.advance(10_000);
    expect(actor.getSnapshot().value).toBe('suspected');
    actor.stop();
  });

  it("the endpoint machine's stale-modules guard is its owner's; unbound, an idle node takes the next host", () => {
    const calls: string[] = [];
    const endpoint = (effects: NodeEndpointEffects | undefined) => {
      const actor = createActor(nodeEndpointMachine, {
        input: { idleTimeoutMs: 1_000, effects: effects && bindNodeEndpointEffects(effects) },
      }).start();
      actor.send({ type: 'host.offered', linkId: 'h1', reuse: true });
      actor.send({ type: 'build.completed', linkId: 'h1', prepareForReuse: true });
      actor.send({ type: 'host.offered', linkId: 'h2', reuse: true });
      return actor;
    };
    const stale = endpoint({
      acceptHost: (linkId) => calls.push(`accept ${linkId}`),
      refuseHost: (linkId) => calls.push(`refuse ${linkId}`),
      staleModules: () => 'tasks.mjs changed',
      retire: (linkId) => calls.push(`retire ${linkId}`),
      releaseHost: () => calls.push('release'),
      resetBuildState: () => calls.push('reset'),
      exit: () => calls.push('exit'),
      hostSilentFor: () => 0,
      watchHost: () => calls.push('watch host'),
      hostTicked: () => {},
      hostSilent: () => calls.push('host silent'),
    });
    expect(stale.getSnapshot().value).toBe('exiting');
    expect(calls).toEqual(['accept h1', 'release', 'reset', 'retire h2', 'exit']);
    const unbound = endpoint(undefined);
    expect(unbound.getSnapshot().value).toEqual({ active: 'trusting' });
    expect(unbound.getSnapshot().context.host).toBe('h2');
    unbound.stop();
  });

  it("a job slot's invoked steps are its owner's; unbound, a step never ends and nothing is announced", async () => {
    const job = { id: 'j1', job: 'build', message: {} } as never;
    const calls: string[] = [];
    const effects: JobSlotEffects = {
      awaitPrevious: async () => {
        calls.push('awaitPrevious');
      },
      renewLease: () => {
        calls.push('renewLease');
        return () => calls.push('stopRenewing');
      },
      startWorker: () => new Promise(() => {}),
      sendJob: async () => {},
      sendCancel: async () => {},
      report: async () => {
        calls.push('report');
      },
      announceStarted: () => calls.push('started'),
      announceCompleted: () => calls.push('completed'),
      announceUnreported: () => calls.push('unreported'),
      announceReportFailed: () => calls.push('reportFailed'),
      announceCrash: () => calls.push('crash'),
      forwardMetadata: () => {},
      killWorker: () => {},
      releaseWorker: () => {},
    };
    const timeouts = { channelTimeoutMs: 10, cancelTimeoutMs: 10, killTimeoutMs: 10 };
    const bound = createActor(jobSlotMachine, {
      input: { ...timeouts, effects: bindJobSlotEffects(effects) },
    }).start();
    const unbound = createActor(jobSlotMachine, { input: { ...timeouts, effects: undefined } }).start();
    for (const actor of [bound, unbound]) actor.send({ type: 'job.assigned', job });
    await new Promise((resolve) => setImmediate(resolve));
    expect(bound.getSnapshot().value).toEqual({ leased: 'firstRenewal' });
    expect(unbound.getSnapshot().value).toBe('awaitingPrevious');
    for (const actor of [bound, unbound])
      actor.send({ type: 'job.cancel', kind: 'CancelRequest', reason: 'no' });
    await new Promise((resolve) => setImmediate(resolve));
    expect(bound.getSnapshot().value).toBe('idle');
    expect(calls).toEqual(['awaitPrevious', 'renewLease', 'stopRenewing', 'report', 'completed']);
    expect(unbound.getSnapshot().value).toBe('finishing');
    bound.stop();
    unbound.stop();
  });
});
