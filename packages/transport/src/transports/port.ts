import type { MessagePort } from 'node:worker_threads';
import type { ByteChannel, ChannelSink } from '../channel.js';

type PortMessage = { t: 'data'; bytes: Uint8Array } | { t: 'ack'; n: number } | { t: 'end' } | { t: 'reset' };

/**
 * A byte channel over a worker_threads MessagePort, for thread nodes. Writes made in one turn of
 * the event loop go out as one message (a `postMessage` costs more than a small packet's whole
 * handling, so packets of many requests share one), copied once into a fresh buffer that is
 * transferred (not cloned again); the receiver acknowledges what it consumed, and a writer with
 * `highWaterMark` unacknowledged bytes is told to wait for drain. Both ends must use the same
 * `highWaterMark`. That window is what makes a paused reader push back on the sender, as a socket
 * would.
 */
export function messagePortChannel(port: MessagePort, peer: string, highWaterMark = 256 * 1024): ByteChannel {
  let sink: ChannelSink | undefined;
  let inFlight = 0;
  let needDrain = false;
  let paused = false;
  const inbox: PortMessage[] = [];
  let ended = false;
  let peerEnded = false;
  let closed = false;

  const close = (error?: Error) => {
    if (closed) return;
    closed = true;
    port.close();
    queueMicrotask(() => sink?.close(error));
  };
  // Acknowledgements are batched: one per quarter window consumed, not one per message, which
  // halves the postMessage calls of small-packet traffic. The sender's window is four times
  // that, so it can never wait on an acknowledgement that is not coming.
  let unacknowledged = 0;
  const consume = (message: PortMessage) => {
    if (message.t === 'data') {
      unacknowledged += message.bytes.length;
      if (unacknowledged >= highWaterMark / 4) {
        post({ t: 'ack', n: unacknowledged });
        unacknowledged = 0;
      }
      sink?.data(message.bytes);
    } else if (message.t === 'end') {
      peerEnded = true;
      sink?.end();
      if (ended) close();
    }
  };
  const post = (message: PortMessage, transfer?: ArrayBuffer[]) => {
    if (closed) return;
    port.postMessage(message, transfer);
  };
  // Writes of this turn, sent together at the end of it.
  let pending: Array<{ chunk: Uint8Array; done: (error?: Error | null) => void }> = [];
  let pendingBytes = 0;
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const writes = pending;
    pending = [];
    const length = pendingBytes;
    pendingBytes = 0;
    if (writes.length === 0) return;
    if (closed) {
      for (const write of writes) write.done(new Error('write after close'));
      return;
    }
    const bytes = new Uint8Array(length);
    let at = 0;
    for (const write of writes) {
      bytes.set(write.chunk, at);
      at += write.chunk.length;
    }
    post({ t: 'data', bytes }, [bytes.buffer]);
    for (const write of writes) write.done(null);
  };
  port.on('message', (message: PortMessage) => {
    if (closed) return;
    switch (message.t) {
      case 'ack':
        inFlight -= message.n;
        if (needDrain && inFlight < highWaterMark) {
          needDrain = false;
          sink?.drain();
        }
        break;
      case 'reset':
        close(new Error('connection reset by peer'));
        break;
      default:
        if (paused || inbox.length > 0) inbox.push(message);
        else consume(message);
    }
  });
  port.on('close', () => close(ended && peerEnded ? undefined : new Error('message port closed')));

  return {
    peer,
    attach(next) {
      sink = next;
    },
    write(chunk, done) {
      if (closed || ended) {
        queueMicrotask(() => done(new Error(closed ? 'write after close' : 'write after end')));
        return false;
      }
      // The chunk is the writer's and stays untouched until its `done`: it is copied at the flush.
      pending.push({ chunk, done });
      pendingBytes += chunk.length;
      inFlight += chunk.length;
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
      if (inFlight >= highWaterMark) {
        needDrain = true;
        return false;
      }
      return true;
    },
    end() {
      if (ended || closed) return;
      ended = true;
      flush();
      post({ t: 'end' });
      if (peerEnded) close();
    },
    destroy(error) {
      if (closed) return;
      post({ t: 'reset' });
      close(error);
    },
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
      while (!paused && inbox.length > 0 && !closed) consume(inbox.shift()!);
    },
  };
}
