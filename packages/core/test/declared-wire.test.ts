import { MalformedPacketError } from '@troupe/core';
import {
  flattenSpecs,
  PacketRegistry,
  PacketType,
  type RequestSpecBody,
  unflattenSpecs,
} from '@troupe/core/internal';
import { describe, expect, it } from 'vitest';

// How a declared graph crosses the wire in BuildBlocked: one list, each spec once, deps as indices.

const spec = (task: string, deps?: RequestSpecBody[]): RequestSpecBody => ({
  task,
  input: task,
  ...(deps && { deps }),
});

describe('declared graphs on the wire', () => {
  it('a shared dependency crosses once, the roots keep their places (repeats too), and it comes back shared', () => {
    const leaf = spec('leaf');
    const a = spec('a', [leaf]);
    const b = spec('b', [leaf]);
    const top = spec('top', [a, b]);
    const { requests, asked } = flattenSpecs([top, a, top]);
    expect(asked).toBe(3);
    expect(requests.map((r) => r.task)).toEqual(['top', 'a', 'top', 'b', 'leaf']);
    expect(requests.map((r) => r.deps)).toEqual([[1, 3], [4], [1, 3], [4], undefined]);
    const back = unflattenSpecs(structuredClone(requests), asked);
    expect(back.map((r) => r.task)).toEqual(['top', 'a', 'top']);
    const [topBack, aBack] = back;
    expect(topBack!.deps![0]).toBe(aBack);
    expect(topBack!.deps![0]!.deps![0]).toBe(topBack!.deps![1]!.deps![0]);
    expect(topBack!.deps![0]!.deps![0]!.task).toBe('leaf');
  });

  it('a list with no declared dependencies crosses as it is', () => {
    const plain = [
      { task: 'x', input: 'x' },
      { task: 'y', input: 'y' },
    ];
    expect(flattenSpecs(plain)).toEqual({ requests: plain });
    expect(unflattenSpecs(plain)).toEqual(plain);
  });

  it('a cycle of specs crosses as a cycle of indices (the host refuses it, not the wire)', () => {
    const a = spec('a', []);
    const b = spec('b', [a]);
    a.deps!.push(b);
    const { requests } = flattenSpecs([a]);
    expect(requests.map((r) => r.deps)).toEqual([[1], [0]]);
    const [back] = unflattenSpecs(requests, 1);
    expect(back!.deps![0]!.deps![0]).toBe(back);
  });

  it('a BuildBlocked whose deps point outside its list, or whose asked is out of range, is malformed', () => {
    const registry = new PacketRegistry();
    const requests = [
      { task: 'a', input: 1, deps: [1] },
      { task: 'b', input: 2 },
    ];
    expect(registry.decode(PacketType.BuildBlocked, { requestId: 'r', requests, asked: 1 }).type).toBe(
      'BuildBlocked',
    );
    for (const body of [
      { requestId: 'r', requests: [{ task: 'a', input: 1, deps: [2] }] },
      { requestId: 'r', requests: [{ task: 'a', input: 1, deps: [-1] }] },
      { requestId: 'r', requests: [{ task: 'a', input: 1, deps: ['0'] }] },
      { requestId: 'r', requests, asked: 0 },
      { requestId: 'r', requests, asked: 3 },
    ])
      expect(() => registry.decode(PacketType.BuildBlocked, body)).toThrow(MalformedPacketError);
  });

  it('a retry policy crosses with its request; one out of bounds is malformed', () => {
    const registry = new PacketRegistry();
    const retry = { attempts: 2, backoffMs: 250 };
    const packet = registry.decode(PacketType.BuildBlocked, {
      requestId: 'r',
      requests: [{ task: 'a', input: 1, retry }],
    });
    expect(packet.type === 'BuildBlocked' && packet.body.requests[0]!.retry).toEqual(retry);
    for (const bad of [
      null,
      'twice',
      { attempts: -1 },
      { attempts: 1.5 },
      { attempts: 101 },
      { attempts: 1, backoffMs: -5 },
      { attempts: 1, backoffMs: Number.NaN },
      { attempts: 1, backoffMs: '10' },
      { attempts: 1, backoffMs: 3_600_001 },
    ])
      expect(() =>
        registry.decode(PacketType.BuildBlocked, {
          requestId: 'r',
          requests: [{ task: 'a', input: 1, retry: bad }],
        }),
      ).toThrow(MalformedPacketError);
  });

  it('a timeout crosses with its request; one that no timer can wait is malformed', () => {
    const registry = new PacketRegistry();
    const packet = registry.decode(PacketType.BuildBlocked, {
      requestId: 'r',
      requests: [{ task: 'a', input: 1, timeoutMs: 1_500 }],
    });
    expect(packet.type === 'BuildBlocked' && packet.body.requests[0]!.timeoutMs).toBe(1_500);
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31, '100', null])
      expect(() =>
        registry.decode(PacketType.BuildBlocked, {
          requestId: 'r',
          requests: [{ task: 'a', input: 1, timeoutMs: bad }],
        }),
      ).toThrow(MalformedPacketError);
  });
});
