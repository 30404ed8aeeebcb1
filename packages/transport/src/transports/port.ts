import type { MessagePort } from 'node:worker_threads';
import type { ByteChannel, ChannelSink } from '../channel.js';

/**
 * What crosses the port. A turn's bytes go as a latin1 string when they are few (every byte value
 * is one character of it): a string is cloned into the other thread without the ArrayBuffer a
 * typed array needs at each end, which made a small message cost about a third more, sender and
 * receiver together; many bytes go as a Uint8Array whose buffer is moved, not copied. An
 * acknowledgement is the number of bytes consumed; `true` ends the stream, `false` resets it.
 */
type PortMessage = string | Uint8Array | number | boolean;

/** Below this many bytes a turn's writes travel as a string; from it, as a moved buffer. */
const STRING_BELOW = 64 * 1024;

/** The bytes of `chunk` as a latin1 string (one character per byte, lossless). */
function latin1(chunk: Uint8Array): string {
  return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length).toString('latin1');
}

/**
 * A byte channel over a worker_threads MessagePort, for thread nodes. Writes made in one turn of
 * the event loop go out as one message (a `postMessage` costs more than a small packet's whole
 * handling, so packets of many requests share one), copied once at the flush (`PortMessage`); the
 * receiver acknowledges what it consumed, and a writer with `highWaterMark` unacknowledged bytes
 * is told to wait for drain. Both ends must use the same `highWaterMark`. That window is what
 * makes a paused reader push back on the sender, as a socket would.
 */
export function messagePortChannel(port: MessagePort, peer: string, highWaterMark = 256 * 1024): ByteChannel {
  let sink: ChannelSink | undefined;
  let inFlight = 0;
  let needDrain = false;
  let paused = false;
  const inbox: Array<Buffer | true> = [];
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
  const consume = (message: Buffer | true) => {
    if (message !== true) {
      unacknowledged += message.length;
      if (unacknowledged >= highWaterMark / 4) {
        post(unacknowledged);
        unacknowledged = 0;
      }
      sink?.data(message);
    } else {
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
    if (length < STRING_BELOW) {
      let text = '';
      for (const write of writes) text += latin1(write.chunk);
      post(text);
    } else {
      const bytes = new Uint8Array(length);
      let at = 0;
      for (const write of writes) {
        bytes.set(write.chunk, at);
        at += write.chunk.length;
      }
      post(bytes, [bytes.buffer]);
    }
    for (const write of writes) write.done(null);
  };
  port.on('message', (message: PortMessage) => {
    if (closed) return;
    if (typeof message === 'number') {
      inFlight -= message;
      if (needDrain && inFlight < highWaterMark) {
        needDrain = false;
        sink?.drain();
      }
      return;
    }
    if (message === false) {
      close(new Error('connection reset by peer'));
      return;
    }
    const item =
      message === true
        ? message
        : typeof message === 'string'
          ? Buffer.from(message, 'latin1')
          : Buffer.from(message.buffer, message.byteOffset, message.length);
    if (paused || inbox.length > 0) inbox.push(item);
    else consume(item);
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
    flush,
    end() {
      if (ended || closed) return;
      ended = true;
      flush();
      post(true);
      if (peerEnded) close();
    },
    destroy(error) {
      if (closed) return;
      post(false);
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
