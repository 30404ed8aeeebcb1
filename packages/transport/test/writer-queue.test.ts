import { type Link, LinkClosedError, MemoryTransport, PacketTooLargeError } from '@troupe/transport';
import {
  bindWriterQueueEffects,
  type Delivery,
  MAX_WRITE_CHUNK,
  writerQueueMachine,
} from '@troupe/transport/internal';
import { afterEach, describe, expect, it } from 'vitest';
import { createActor } from 'xstate';

function writer() {
  const calls: string[] = [];
  const actor = createActor(writerQueueMachine, {
    input: {
      effects: bindWriterQueueEffects({
        flush: () => calls.push('flush'),
        endChannel: () => calls.push('end'),
        discardQueue: () => calls.push('discard'),
      }),
    },
  }).start();
  return {
    actor,
    calls,
    get state() {
      return actor.getSnapshot().value;
    },
  };
}

describe('writer queue machine', () => {
  it('starts flowing and flushes what was queued before it started', () => {
    const w = writer();
    expect(w.state).toBe('flowing');
    expect(w.calls).toEqual(['flush']);
  });

  it('writes nothing while the channel is full, and flushes on drain', () => {
    const w = writer();
    w.actor.send({ type: 'write.refused' });
    expect(w.state).toBe('awaitingDrain');
    w.actor.send({ type: 'write.refused' });
    expect(w.calls).toEqual(['flush']);
    w.actor.send({ type: 'channel.drained' });
    expect(w.state).toBe('flowing');
    expect(w.calls).toEqual(['flush', 'flush']);
  });

  it('ending flushes the rest before it ends the channel, full or not', () => {
    for (const full of [false, true]) {
      const w = writer();
      if (full) w.actor.send({ type: 'write.refused' });
      w.actor.send({ type: 'queue.ending' });
      expect(w.state).toBe('ended');
      expect(w.calls.slice(-2)).toEqual(['flush', 'end']);
      w.actor.send({ type: 'channel.drained' });
      expect(w.calls.at(-1)).toBe('end');
    }
  });

  it('a failed write aborts the queue with the error, discarding what was queued', () => {
    const w = writer();
    const error = new Error('EPIPE');
    w.actor.send({ type: 'write.failed', error });
    expect(w.state).toBe('aborted');
    expect(w.actor.getSnapshot().context.error).toBe(error);
    expect(w.calls.at(-1)).toBe('discard');
  });
});

describe('writer queue in a link', () => {
  const links: Link[] = [];
  afterEach(async () => {
    await Promise.all(links.splice(0).map((link) => link.destroy()));
  });

  async function pair(onDelivery: (delivery: Delivery) => void) {
    const transport = new MemoryTransport({
      network: {
        submit(delivery) {
          onDelivery(delivery);
          queueMicrotask(() => delivery.deliver());
        },
      },
    });
    const listener = await transport.listen();
    const accepted = new Promise<Link>((resolve) => listener.once('link', resolve));
    const client = await transport.connect(listener.address, { maxFrameLength: 8 * 1024 * 1024 });
    const server = await accepted;
    await listener.close();
    links.push(client, server);
    return { client, server };
  }

  it('a burst of 1,000 packets in one tick goes out in far fewer writes', async () => {
    let writes = 0;
    const { client, server } = await pair((d) => {
      if (d.kind === 'data') writes++;
    });
    writes = 0;
    const received = new Promise<number>((resolve) => {
      let n = 0;
      server.on('packet', () => {
        if (++n === 1_000) resolve(n);
      });
    });
    for (let i = 0; i < 1_000; i++) client.send(1, i);
    expect(await received).toBe(1_000);
    expect(writes).toBeLessThan(50);
  });

  it('writes a large frame in chunks of at most 1 MiB', async () => {
    const sizes: number[] = [];
    const { client, server } = await pair((d) => {
      if (d.kind === 'data') sizes.push(d.bytes);
    });
    const received = new Promise<unknown>((resolve) => server.once('packet', (_t, body) => resolve(body)));
    client.send(1, Buffer.alloc(3 * 1024 * 1024 + 17, 3));
    expect(((await received) as Buffer).length).toBe(3 * 1024 * 1024 + 17);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(MAX_WRITE_CHUNK);
    expect(sizes.length).toBeGreaterThanOrEqual(4);
  });

  it('refuses a packet over the maximum frame and keeps working (record structures stay in step)', async () => {
    const { client, server } = await pair(() => {});
    const got: unknown[] = [];
    const both = new Promise<void>((resolve) =>
      server.on('packet', (_t, body) => {
        got.push(body);
        if (got.length === 2) resolve();
      }),
    );
    client.send(1, { shape: 'a', n: 1 });
    expect(() => client.send(1, { huge: Buffer.alloc(9 * 1024 * 1024), fresh: 1 })).toThrow(
      PacketTooLargeError,
    );
    client.send(1, { huge: 'small now', fresh: 2 });
    await both;
    expect(got).toEqual([
      { shape: 'a', n: 1 },
      { huge: 'small now', fresh: 2 },
    ]);
  });

  it('Buffer bodies of every msgpack bin size arrive whole, and the sender may reuse its Buffer at once', async () => {
    const { client, server } = await pair(() => {});
    const sizes = [0, 1, 255, 256, 65_535, 65_536, 70_000];
    const got: Buffer[] = [];
    const all = new Promise<void>((resolve) =>
      server.on('packet', (_t, body) => {
        got.push(body as Buffer);
        if (got.length === sizes.length) resolve();
      }),
    );
    const scratch = Buffer.alloc(70_000);
    for (const size of sizes) {
      scratch.fill(size & 0xff, 0, size);
      client.send(2, scratch.subarray(0, size));
      scratch.fill(0xee); // reused before the flush: what was sent must not change
    }
    await all;
    expect(got.map((b) => b.length)).toEqual(sizes);
    for (const [i, body] of got.entries())
      expect(body.every((byte) => byte === (sizes[i]! & 0xff))).toBe(true);
  });

  it('a packet sent after close fails with LinkClosedError instead of vanishing', async () => {
    const { client } = await pair(() => {});
    await client.close();
    expect(() => client.send(1, 'late')).toThrow(LinkClosedError);
    await expect(client.writable()).rejects.toBeInstanceOf(LinkClosedError);
  });
});
