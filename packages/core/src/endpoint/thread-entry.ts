// A thread node's entry: runs inside a Worker, where it reads workerData and ends its thread; the
// endpoint it starts takes its transport and clock as options like every other.
import { type MessagePort, workerData } from 'node:worker_threads';
import { type HandshakeOptions, Listener, type Transport } from '@troupe/transport';
import { messagePortChannel } from '@troupe/transport/internal';
import { preloadDoor } from './door-preload.js';
import { NodeEndpoint } from './endpoint.js';

/**
 * What runs inside a thread node's worker: the same endpoint as a process node, listening on the
 * one message port its host handed it.
 */
export interface ThreadNodeData {
  port: MessagePort;
  nodeId: string;
  idleTimeoutMs: number;
  handshake: HandshakeOptions;
}

const data = workerData as ThreadNodeData;

const transport: Transport = {
  kind: 'port',
  async listen(options = {}) {
    const listener = new Listener('port', `thread://${data.nodeId}`, options, async () => {});
    // The endpoint subscribes to 'link' right after listen resolves; the handshake that precedes
    // the event cannot finish before that.
    listener.accept(messagePortChannel(data.port, 'host'));
    return listener;
  },
  connect() {
    return Promise.reject(new Error('a thread node does not connect out'));
  },
};

const endpoint = await NodeEndpoint.start({
  transport,
  idleTimeoutMs: data.idleTimeoutMs,
  listen: { handshake: data.handshake },
});
// While the host answers the handshake and sends its first request.
void preloadDoor();
endpoint.on('log', (message) => process.stderr.write(`[troupe thread node ${data.nodeId}] ${message}\n`));
// A thread node serves exactly one host, over its one port: when that host is gone, so is the node.
endpoint.on('state', (state) => {
  if (state === 'idle' || state === 'waiting') {
    if (endpoint.running === 0) void endpoint.exit();
  }
});
await endpoint.exited;
data.port.close();
// A task that ignored its cancellation may keep this thread's event loop busy: its host has been
// told everything, so a grace period later the thread ends rather than wait to be terminated.
setTimeout(() => process.exit(0), 1_000).unref();
