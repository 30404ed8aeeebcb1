import type { Socket } from 'node:net';

/**
 * What a link needs from the byte stream beneath it: the smallest shape that a Node socket and
 * an in-memory pipe both honour. A write's callback fires when the bytes left the writer's hands
 * (reached the kernel, or the network); `write` returning false asks the writer to wait for
 * `drain` before writing again.
 */
export interface ByteChannel {
  /** Human-readable name of the far end, for error messages. */
  readonly peer: string;
  attach(sink: ChannelSink): void;
  write(chunk: Uint8Array, done: (error?: Error | null) => void): boolean;
  /**
   * Sends now what this channel holds back to send together at the end of the turn, if it does
   * (a socket writes at once and has no need of this).
   */
  flush?(): void;
  /** No more writes; the peer sees end-of-stream after every byte written before. */
  end(): void;
  /** Tear down now; pending bytes are lost. */
  destroy(error?: Error): void;
  pause(): void;
  resume(): void;
}

export interface ChannelSink {
  data(chunk: Uint8Array): void;
  drain(): void;
  /** The peer will send nothing more. */
  end(): void;
  /** Both directions are gone; `error` when it was not a clean close. */
  close(error?: Error): void;
}

/** Adapts a `net.Socket` (or `tls.TLSSocket`) to a channel. */
export function socketChannel(socket: Socket, peer: string): ByteChannel {
  let failure: Error | undefined;
  return {
    peer,
    attach(sink) {
      socket.on('data', (chunk: Buffer) => sink.data(chunk));
      socket.on('drain', () => sink.drain());
      socket.on('end', () => sink.end());
      socket.on('error', (error) => {
        failure ??= error;
      });
      socket.on('close', () => sink.close(failure));
      if (socket.destroyed)
        queueMicrotask(() => sink.close(failure ?? new Error('socket already destroyed')));
    },
    write: (chunk, done) => socket.write(chunk, done),
    end: () => {
      socket.end();
    },
    destroy: (error) => {
      socket.destroy(error);
    },
    pause: () => {
      socket.pause();
    },
    resume: () => {
      socket.resume();
    },
  };
}
