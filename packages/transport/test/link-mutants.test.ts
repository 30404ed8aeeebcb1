// Found by the mutation run (npm run check:mutants): a link that closes for a reason other than its
// own close must hand the error that closed it to whoever awaits `closed`, in each state, and the
// first cause must win. Dropping the link machine's `recordError` on a failed connection went
// unnoticed by every other test, as did a teardown that left the writer flowing.
import { Link } from '@troupe/transport';
import {
  type ByteChannel,
  type ChannelSink,
  createHandshake,
  encodeHandshake,
} from '@troupe/transport/internal';
import { describe, expect, it } from 'vitest';

/** A channel whose far end is the test: it answers the handshake and fails when told to. */
function channelUnderTest() {
  let sink!: ChannelSink;
  const channel: ByteChannel = {
    peer: 'under-test',
    attach(next) {
      sink = next;
    },
    write(_chunk, done) {
      queueMicrotask(() => done(null));
      return true;
    },
    flush() {},
    end() {},
    destroy() {
      queueMicrotask(() => sink.close());
    },
    pause() {},
    resume() {},
  };
  return {
    channel,
    get sink() {
      return sink;
    },
    answerHandshake: () => sink.data(encodeHandshake(createHandshake({}))),
  };
}

async function openLink() {
  const peer = channelUnderTest();
  const link = new Link(peer.channel, 'connector', {});
  peer.answerHandshake();
  await link.opened;
  return { link, peer };
}

describe('link: the error that closed it', () => {
  it('an open link whose connection fails closes as connection-failed, with the failure', async () => {
    const { link, peer } = await openLink();
    peer.sink.close(new Error('ECONNRESET: reset by peer'));
    const info = await link.closed;
    expect(info.reason).toBe('connection-failed');
    expect(info.error?.message).toMatch(/ECONNRESET: reset by peer/);
  });

  it('an open link whose peer goes away cleanly closes as closed-by-peer, with no error', async () => {
    const { link, peer } = await openLink();
    peer.sink.close();
    const info = await link.closed;
    expect(info.reason).toBe('closed-by-peer');
    expect(info.error).toBeUndefined();
  });

  it('a connection that fails during the handshake fails it, with the failure', async () => {
    const peer = channelUnderTest();
    const link = new Link(peer.channel, 'connector', {});
    peer.sink.close(new Error('ECONNREFUSED'));
    const info = await link.closed;
    expect(info.reason).toBe('handshake-failed');
    expect(info.error?.message).toMatch(/ECONNREFUSED/);
    await expect(link.opened).rejects.toThrow();
  });

  it('destroy(error) on an open link closes it as closed, with that error', async () => {
    const { link } = await openLink();
    const info = await link.destroy(new Error('given up on it'));
    expect(info.reason).toBe('closed');
    expect(info.error?.message).toBe('given up on it');
  });

  it('the first cause wins: a failure after destroy(error) changes neither reason nor error', async () => {
    const { link, peer } = await openLink();
    const closing = link.destroy(new Error('first'));
    peer.sink.close(new Error('second'));
    const info = await closing;
    expect(info.reason).toBe('closed');
    expect(info.error?.message).toBe('first');
  });

  it('a link torn down (destroyed, or its connection failed) leaves its writer aborted', async () => {
    const destroyed = await openLink();
    expect(destroyed.link.writerState).toBe('flowing');
    await destroyed.link.destroy(new Error('given up on it'));
    expect(destroyed.link.writerState).toBe('aborted');
    const failed = await openLink();
    failed.peer.sink.close(new Error('ECONNRESET'));
    await failed.link.closed;
    expect(failed.link.writerState).toBe('aborted');
  });
});
