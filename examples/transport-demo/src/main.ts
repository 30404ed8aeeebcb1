import { randomBytes } from 'node:crypto';
import {
  HandshakeMismatchError,
  type Link,
  type Listener,
  PipeTransport,
  TcpTransport,
  type Transport,
} from '@troupe/transport';

const PING = 1;
const PONG = 2;
const BLOB = 3;
const DONE = 4;

/** The node side: answers pings, acknowledges blobs by size and a done with the packets seen before it. */
function serve(listener: Listener): void {
  listener.on('link', (link) => {
    let seen = 0;
    link.on('packet', (type, body) => {
      if (type === DONE) {
        link.send(DONE, seen);
        return;
      }
      seen++;
      if (type === PING) link.send(PONG, body);
      else if (type === BLOB) link.send(BLOB, (body as Uint8Array).length);
    });
  });
  listener.on('rejected', (error) => console.log(`  listener turned a connection away: ${error.message}`));
}

function next(link: Link, type: number): Promise<unknown> {
  return new Promise((resolve) => {
    const onPacket = (t: number, body: unknown) => {
      if (t !== type) return;
      link.off('packet', onPacket);
      resolve(body);
    };
    link.on('packet', onPacket);
  });
}

async function tour(name: string, transport: Transport, listenOptions: object, connectOptions: object) {
  const listener = await transport.listen(listenOptions);
  serve(listener);
  console.log(`${name}: listening on ${listener.address}`);
  const link = await transport.connect(listener.address, connectOptions);
  try {
    const burst = 10_000;
    for (let i = 0; i < burst; i++) {
      if (!link.send(PING, i)) await link.writable();
    }
    link.send(DONE);
    const pongs = new Promise<void>((resolve) => {
      let n = 0;
      link.on('packet', (type) => {
        if (type === PONG && ++n === burst) resolve();
      });
    });
    console.log(`  sent ${burst} packets; the node saw ${await next(link, DONE)}`);
    await pongs;

    const blob = randomBytes(8 * 1024 * 1024);
    link.send(BLOB, blob);
    console.log(`  an 8 MiB packet arrived whole: ${(await next(link, BLOB)) === blob.length}`);

    const rounds = 1_000;
    const start = performance.now();
    for (let i = 0; i < rounds; i++) {
      const reply = next(link, PONG);
      link.send(PING, i);
      await reply;
    }
    console.log(`  round trip: ${(((performance.now() - start) / rounds) * 1000).toFixed(1)} µs on average`);

    try {
      await transport.connect(listener.address, {
        ...connectOptions,
        handshake: { runtimeVersion: '9.9.9' },
      });
    } catch (error) {
      if (!(error instanceof HandshakeMismatchError)) throw error;
      console.log(
        `  a stranger with runtime 9.9.9 was refused (${error.code}, component: ${error.component})`,
      );
    }
  } finally {
    const info = await link.close();
    await listener.close();
    console.log(`  link closed (${info.reason}), listener closed`);
  }
}

await tour('pipe', new PipeTransport(), {}, {});
const secret = randomBytes(32);
await tour('tcp', new TcpTransport(), { secret }, { secret });
console.log('done');
