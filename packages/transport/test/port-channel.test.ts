import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { type ChannelSink, messagePortChannel } from '@troupe/transport/internal';
import { describe, expect, it } from 'vitest';

/** A sink that records what a channel delivers. */
function recorder() {
  const chunks: Buffer[] = [];
  const events: string[] = [];
  let closed: (error: Error | undefined) => void = () => {};
  const closing = new Promise<Error | undefined>((resolve) => {
    closed = resolve;
  });
  const sink: ChannelSink = {
    data: (chunk) => chunks.push(Buffer.from(chunk)),
    drain: () => events.push('drain'),
    end: () => events.push('end'),
    close: (error) => {
      events.push('close');
      closed(error);
    },
  };
  return { sink, chunks, events, closing, bytes: () => Buffer.concat(chunks) };
}

function pair(highWaterMark?: number) {
  const { port1, port2 } = new MessageChannel();
  const a = messagePortChannel(port1, 'b', highWaterMark);
  const b = messagePortChannel(port2, 'a', highWaterMark);
  const atA = recorder();
  const atB = recorder();
  a.attach(atA.sink);
  b.attach(atB.sink);
  return { a, b, atA, atB };
}

const until = async (test: () => boolean) => {
  while (!test()) await new Promise((resolve) => setTimeout(resolve, 1));
};

describe('message-port channel', () => {
  it("holds a turn's writes for one message at its end, and `flush` sends them at once", async () => {
    const { port1, port2 } = new MessageChannel();
    const a = messagePortChannel(port1, 'b');
    a.attach(recorder().sink);
    a.write(Buffer.from('one '), () => {});
    a.write(Buffer.from('two'), () => {});
    // Nothing has left yet; a flush sends both together, before this turn ends.
    expect(receiveMessageOnPort(port2)).toBeUndefined();
    a.flush!();
    expect(receiveMessageOnPort(port2)?.message).toBe('one two');
    // The end of the turn finds nothing more to send.
    await new Promise((resolve) => setImmediate(resolve));
    expect(receiveMessageOnPort(port2)).toBeUndefined();
    a.destroy();
    port2.close();
  });

  it('carries every byte value, in small writes (one message a turn) and large ones, in order', async () => {
    const { a, b, atB } = pair();
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const large = Buffer.alloc(100 * 1024);
    for (let i = 0; i < large.length; i++) large[i] = (i * 7919) % 256;
    const sent = [all, Buffer.from([0, 255, 128]), large, all.subarray(200), Buffer.from('héllo ☃', 'utf8')];
    for (const chunk of sent.slice(0, 2)) a.write(chunk, () => {});
    await new Promise((resolve) => setImmediate(resolve));
    for (const chunk of sent.slice(2)) a.write(chunk, () => {});
    const expected = Buffer.concat(sent);
    await until(() => atB.bytes().length >= expected.length);
    expect(atB.bytes().equals(expected)).toBe(true);
    a.destroy();
    b.destroy();
  });

  it('asks the writer to wait past its window, and drains once the reader consumed', async () => {
    const { a, b, atA, atB } = pair(1024);
    b.pause();
    let accepted = true;
    for (let i = 0; i < 8 && accepted; i++) accepted = a.write(Buffer.alloc(200, i), () => {});
    expect(accepted).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(atB.chunks).toEqual([]);
    b.resume();
    await until(() => atA.events.includes('drain'));
    expect(atB.bytes().length).toBe(1200);
    a.destroy();
    b.destroy();
  });

  it('ends each side in order, and a reset reaches the peer as an error', async () => {
    const ended = pair();
    ended.a.write(Buffer.from('last'), () => {});
    ended.a.end();
    await until(() => ended.atB.events.includes('end'));
    expect(ended.atB.bytes().toString()).toBe('last');
    ended.b.end();
    expect(await ended.atA.closing).toBeUndefined();
    expect(await ended.atB.closing).toBeUndefined();

    const reset = pair();
    reset.a.destroy(new Error('gone'));
    expect((await reset.atB.closing)?.message).toBe('connection reset by peer');
  });
});
