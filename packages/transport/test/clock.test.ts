// fulfilsWithin: whether a promise fulfils within a time on an injected clock.
import { VirtualClock } from '@troupe/testing';
import { fulfilsWithin } from '@troupe/transport/internal';
import { describe, expect, it } from 'vitest';

describe('fulfilsWithin', () => {
  it('is true for a promise that fulfils in time, and leaves no timer behind', async () => {
    const clock = new VirtualClock();
    let fulfil!: () => void;
    const promise = new Promise<void>((resolve) => {
      fulfil = resolve;
    });
    const within = fulfilsWithin(clock, promise, 100);
    expect(clock.pending).toBe(1);
    clock.advance(99);
    fulfil();
    expect(await within).toBe(true);
    expect(clock.pending).toBe(0);
  });

  it('is false for a promise that rejects in time, and leaves no timer behind', async () => {
    const clock = new VirtualClock();
    const within = fulfilsWithin(clock, Promise.reject(new Error('no')), 100);
    expect(await within).toBe(false);
    expect(clock.pending).toBe(0);
  });

  it('is false when the time is up first', async () => {
    const clock = new VirtualClock();
    const within = fulfilsWithin(clock, new Promise(() => {}), 100);
    clock.advance(100);
    expect(await within).toBe(false);
    expect(clock.pending).toBe(0);
  });
});
