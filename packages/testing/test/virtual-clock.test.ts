import { systemClock } from '@troupe/core';
import { SeededRandom, VirtualClock } from '@troupe/testing';
import { describe, expect, it } from 'vitest';
import { createActor, setup } from 'xstate';

describe('VirtualClock', () => {
  it('fires nothing until time is moved', () => {
    const clock = new VirtualClock();
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('a'), 10);
    expect(fired).toEqual([]);
    expect(clock.pending).toBe(1);
    expect(clock.advance(9)).toBe(0);
    expect(fired).toEqual([]);
    expect(clock.advance(1)).toBe(1);
    expect(fired).toEqual(['a']);
    expect(clock.now()).toBe(10);
  });

  it('fires timers in due order, then in the order they were armed', () => {
    const clock = new VirtualClock();
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('late'), 30);
    clock.setTimeout(() => fired.push('first'), 10);
    clock.setTimeout(() => fired.push('second'), 10);
    clock.setTimeout(() => fired.push('zero'), 0);
    clock.runAll();
    expect(fired).toEqual(['zero', 'first', 'second', 'late']);
  });

  it('runs each timer at its own due time, including timers armed by timers', () => {
    const clock = new VirtualClock(100);
    const seen: number[] = [];
    clock.setTimeout(() => {
      seen.push(clock.now());
      clock.setTimeout(() => seen.push(clock.now()), 5);
    }, 10);
    clock.advance(20);
    expect(seen).toEqual([110, 115]);
    expect(clock.now()).toBe(120);
  });

  it('forgets a cleared timer', () => {
    const clock = new VirtualClock();
    let fired = false;
    const id = clock.setTimeout(() => {
      fired = true;
    }, 1);
    clock.clearTimeout(id);
    expect(clock.runAll()).toBe(0);
    expect(fired).toBe(false);
  });

  it('refuses to move backwards and stops a timer that re-arms forever', () => {
    const clock = new VirtualClock();
    expect(() => clock.advance(-1)).toThrow(RangeError);
    const rearm = () => clock.setTimeout(rearm, 1);
    rearm();
    expect(() => clock.runAll(50)).toThrow(/50 timers/);
  });

  it('drives XState delayed transitions as the actor clock', () => {
    const machine = setup({ delays: { patience: 1_000 } }).createMachine({
      initial: 'waiting',
      states: { waiting: { after: { patience: 'expired' } }, expired: {} },
    });
    const clock = new VirtualClock();
    const actor = createActor(machine, { clock }).start();
    expect(actor.getSnapshot().value).toBe('waiting');
    clock.advance(999);
    expect(actor.getSnapshot().value).toBe('waiting');
    clock.advance(1);
    expect(actor.getSnapshot().value).toBe('expired');
    actor.stop();
  });

  it('records who armed each timer, and offers the soonest ones, leaving out the owners skipped', () => {
    const clock = new VirtualClock();
    const node = clock.for('node-1');
    expect(clock.for('node-1')).toBe(node);
    clock.setTimeout(() => {}, 20);
    node.setTimeout(() => {}, 10);
    clock.setTimeout(() => {}, 10);
    expect(clock.timers().map((t) => `${t.owner}@${t.due}`)).toEqual(['node-1@10', 'host@10', 'host@20']);
    expect(clock.soonest().map((t) => t.owner)).toEqual(['node-1', 'host']);
    expect(clock.soonest((owner) => owner === 'host').map((t) => t.owner)).toEqual(['node-1']);
    expect(clock.soonest((owner) => owner === 'node-1').map((t) => t.owner)).toEqual(['host']);
    expect(clock.soonest(() => true)).toEqual([]);
  });

  it('fires a chosen timer, moving time to its due point and never back', () => {
    const clock = new VirtualClock();
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('early'), 10);
    const late = clock.for('node-1').setTimeout(() => fired.push('late'), 30);
    expect(clock.fire(late as number)).toBe(true);
    expect(clock.now()).toBe(30);
    expect(clock.fire(late as number)).toBe(false);
    // The early timer, fired after the late one, does not move time backwards.
    expect(clock.fireNext()).toBe(true);
    expect(fired).toEqual(['late', 'early']);
    expect(clock.now()).toBe(30);
  });

  it('clears a timer armed through a view, from the clock or the view', () => {
    const clock = new VirtualClock();
    const view = clock.for('node-1');
    view.clearTimeout(view.setTimeout(() => {}, 1));
    clock.clearTimeout(view.setTimeout(() => {}, 1));
    expect(clock.pending).toBe(0);
  });

  it('has the same shape as the real clock', () => {
    const keys = (o: object) =>
      ['now', 'setTimeout', 'clearTimeout'].filter((k) => typeof (o as never)[k] === 'function');
    expect(keys(new VirtualClock())).toEqual(keys(systemClock));
  });
});

describe('SeededRandom', () => {
  it('is a pure function of its seed', () => {
    const a = new SeededRandom(42);
    const b = new SeededRandom(42);
    const draw = (r: SeededRandom) => [r.float(), r.id(8), Array.from(r.bytes(4)), r.int(10)];
    expect(draw(a)).toEqual(draw(b));
    expect(draw(new SeededRandom(43))).not.toEqual(draw(new SeededRandom(42)));
  });

  it('stays in range', () => {
    const r = new SeededRandom(7);
    for (let i = 0; i < 1_000; i++) {
      const f = r.float();
      expect(f).toBeGreaterThanOrEqual(0);
      expect(f).toBeLessThan(1);
    }
    expect(r.id(12)).toMatch(/^[A-Za-z0-9_-]{12}$/);
  });
});
