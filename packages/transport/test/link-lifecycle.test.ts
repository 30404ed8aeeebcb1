// The link's lifecycle at its edges, over a channel the test scripts byte by byte: closing during
// the handshake, a peer that hangs up during it, writes that fail, a close while the channel
// pushes back, and a peer that never finishes closing.
import { VirtualClock } from '@troupe/testing';
import { Link } from '@troupe/transport';
import {
  type ByteChannel,
  type ChannelSink,
  createHandshake,
  encodeHandshake,
} from '@troupe/transport/internal';
import { describe, expect, it } from 'vitest';

type WriteMode = 'ok' | 'fail' | 'full';

/** A channel whose far end is the test: it sees what the link writes and decides what happens. */
function scriptedChannel() {
  const written: Uint8Array[] = [];
  const events: string[] = [];
  let sink!: ChannelSink;
  const control = {
    mode: 'ok' as WriteMode,
    written,
    events,
    get sink() {
      return sink;
    },
    /** The peer's half of the handshake: the link opens once it reads it. */
    answerHandshake() {
      sink.data(encodeHandshake(createHandshake({})));
    },
  };
  const channel: ByteChannel = {
    peer: 'scripted',
    attach(next) {
      sink = next;
    },
    write(chunk, done) {
      written.push(chunk);
      if (control.mode === 'fail') {
        queueMicrotask(() => done(new Error('EPIPE: the peer is gone')));
        return true;
      }
      queueMicrotask(() => done(null));
      return control.mode !== 'full';
    },
    flush() {
      events.push('flush');
    },
    end() {
      events.push('end');
    },
    destroy() {
      events.push('destroy');
      queueMicrotask(() => sink.close());
    },
    pause() {},
    resume() {},
  };
  return { channel, control };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('link lifecycle edges', () => {
  it('close() during the handshake closes the link at once, as closed', async () => {
    const { channel } = scriptedChannel();
    const link = new Link(channel, 'connector', {});
    await expect(link.close()).resolves.toMatchObject({ reason: 'closed' });
    await expect(link.opened).rejects.toThrow();
  });

  it('destroy() during the handshake closes the link, with the error given', async () => {
    const { channel } = scriptedChannel();
    const link = new Link(channel, 'connector', {});
    const info = await link.destroy(new Error('given up'));
    expect(info.reason).toBe('closed');
    expect(info.error?.message).toBe('given up');
  });

  it('a peer that ends the stream during the handshake fails it', async () => {
    const { channel, control } = scriptedChannel();
    const link = new Link(channel, 'connector', {});
    control.sink.end();
    await expect(link.closed).resolves.toMatchObject({ reason: 'handshake-failed' });
  });

  it('flush() hands what was sent this turn to the channel at once, and asks the channel to send it', async () => {
    const { channel, control } = scriptedChannel();
    const link = new Link(channel, 'connector', {});
    // Not open yet: nothing to hand over, and the channel is not asked.
    link.flush();
    expect(control.events).toEqual([]);
    control.answerHandshake();
    await link.opened;
    await settle();
    const before = control.written.length;
    link.send(1, { result: 'ready' });
    link.send(2, { result: 'also ready' });
    // A send waits for the end of the turn; a flush does not.
    expect(control.written.length).toBe(before);
    link.flush();
    expect(control.written.length).toBe(before + 1);
    expect(control.events).toEqual(['flush']);
    // The flush the sends scheduled finds nothing left.
    await settle();
    expect(control.written.length).toBe(before + 1);
    await link.destroy();
  });

  it('a write that fails aborts the writer and closes the link as a connection failure', async () => {
    const { channel, control } = scriptedChannel();
    const link = new Link(channel, 'connector', {});
    control.answerHandshake();
    await link.opened;
    control.mode = 'fail';
    link.send(1, { hello: 'peer' });
    const info = await link.closed;
    expect(info.reason).toBe('connection-failed');
    expect(info.error?.message).toMatch(/EPIPE/);
    expect(link.writerState).toBe('aborted');
  });

  it('closing while the channel pushes back hands the rest over and ends the stream', async () => {
    const { channel, control } = scriptedChannel();
    const clock = new VirtualClock();
    const link = new Link(channel, 'connector', { clock });
    control.answerHandshake();
    await link.opened;
    control.mode = 'full';
    link.send(1, Buffer.alloc(10));
    await settle();
    expect(link.writerState).toBe('awaitingDrain');
    const before = control.written.length;
    link.send(2, Buffer.alloc(10));
    void link.close();
    await settle();
    expect(link.writerState).toBe('ended');
    expect(control.written.length).toBeGreaterThan(before);
    expect(control.events).toContain('end');
  });

  it('a peer that never finishes an orderly close is cut off after the close timeout', async () => {
    const { channel, control } = scriptedChannel();
    const clock = new VirtualClock();
    const link = new Link(channel, 'connector', { clock, closeTimeoutMs: 500 });
    control.answerHandshake();
    await link.opened;
    const closed = link.close();
    await settle();
    expect(link.state).toBe('closing');
    clock.advance(500);
    await expect(closed).resolves.toMatchObject({ reason: 'closed' });
    expect(control.events).toContain('destroy');
  });
});
