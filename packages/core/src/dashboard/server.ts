// The dashboard's HTTP server: the real implementation at the edge. It is the one module of the
// runtime that opens a socket for the dashboard (node:http) and reads the page's bundle from disk;
// the runtime and the job dispatcher reach it only through `serveDashboard`, and it sees the run
// only through a DashboardFeed. Read-only: GET and HEAD, nothing else.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { reportUnhandledError } from '@troupe/transport/internal';
import type { DashboardFeed } from './feed.js';

export interface DashboardServerOptions {
  readonly port: number;
  readonly host: string;
  readonly token: string | undefined;
  /**
   * Bytes a page may leave unread on its connection before it stops getting batches; once it has
   * read them, it gets a fresh snapshot. A slow browser costs at most this much memory.
   */
  readonly maxBufferedBytes: number;
}

export interface DashboardServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Where `npm run build` puts the page's bundle (packages/core/scripts/bundle-page.mjs). */
const PAGE_FILES = [
  new URL('../page/dashboard.js', import.meta.url),
  new URL('../../dist/page/dashboard.js', import.meta.url),
];

let page: Promise<string> | undefined;

async function readPage(): Promise<string> {
  for (const file of PAGE_FILES) {
    try {
      return await readFile(file, 'utf8');
    } catch {}
  }
  throw new Error(`the dashboard page's bundle is missing (${PAGE_FILES[0]!.pathname}): run npm run build`);
}

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  // The token may be in the address: no page it links to may see it.
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
  'cache-control': 'no-store',
};

export async function startDashboardServer(
  feed: DashboardFeed,
  options: DashboardServerOptions,
): Promise<DashboardServer> {
  page ??= readPage().catch((error: unknown) => {
    page = undefined;
    throw error;
  });
  const script = await page;
  const expected = options.token === undefined ? undefined : digest(options.token);
  const streams = new Set<ServerResponse>();
  let hostHeaders: ReadonlySet<string> = new Set();

  const server = createServer((request, response) => {
    try {
      handle(request, response);
    } catch (error) {
      reportUnhandledError(error);
      if (!response.headersSent) response.writeHead(500).end();
    }
  });

  const handle = (request: IncomingMessage, response: ServerResponse): void => {
    const url = new URL(request.url ?? '/', 'http://dashboard');
    // A page elsewhere that renames itself to this address (DNS rebinding) sends its own Host.
    // With a token that page cannot read anything anyway, and the bind may be every address the
    // machine has (0.0.0.0), reached by names this server cannot know.
    if (expected === undefined && !hostHeaders.has(request.headers.host ?? ''))
      return void response.writeHead(421, SECURITY_HEADERS).end('wrong host\n');
    if (request.method !== 'GET' && request.method !== 'HEAD')
      return void response.writeHead(405, { ...SECURITY_HEADERS, allow: 'GET, HEAD' }).end('read-only\n');
    if (expected && !authorized(request, url, expected))
      return void response
        .writeHead(401, SECURITY_HEADERS)
        .end('a token is required: ?token=… or Authorization: Bearer …\n');
    const query = options.token === undefined ? '' : `?token=${encodeURIComponent(options.token)}`;
    switch (url.pathname) {
      case '/':
        response.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/html; charset=utf-8' });
        response.end(html(query));
        return;
      case '/dashboard.js':
        response.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/javascript; charset=utf-8' });
        response.end(script);
        return;
      case '/snapshot':
        response.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'application/json' });
        response.end(JSON.stringify(feed.snapshot()));
        return;
      case '/events':
        stream(response);
        return;
      default:
        response.writeHead(404, SECURITY_HEADERS).end('not found\n');
    }
  };

  /** Server-sent events: a snapshot, then batches; a snapshot again after falling behind. */
  const stream = (response: ServerResponse): void => {
    response.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream' });
    streams.add(response);
    let behind = false;
    const send = (message: unknown): void => {
      response.write(`data: ${JSON.stringify(message)}\n\n`);
    };
    const catchUp = (): void => {
      if (!behind || response.writableEnded) return;
      behind = false;
      send(feed.snapshot());
      if (feed.ended) response.end();
    };
    response.on('drain', catchUp);
    send(feed.snapshot());
    if (feed.ended) {
      response.end();
      return;
    }
    const unsubscribe = feed.subscribe((batch) => {
      if (response.writableEnded) return;
      // What the page has not read yet stays bounded: past the limit it misses batches, and gets
      // one snapshot (the state now) once it has caught up.
      if (behind || response.writableLength > options.maxBufferedBytes || batch === 'resync') {
        behind = true;
        if (response.writableLength === 0) catchUp();
        return;
      }
      send(batch);
      if (batch.ended) response.end();
    });
    response.on('close', () => {
      unsubscribe();
      streams.delete(response);
    });
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', reportUnhandledError);
  const { port } = server.address() as AddressInfo;
  const shown = options.host.includes(':') ? `[${options.host}]` : options.host;
  hostHeaders = new Set([`${shown}:${port}`, `localhost:${port}`]);
  const query = options.token === undefined ? '' : `?token=${encodeURIComponent(options.token)}`;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${shown}:${port}/${query}`,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        for (const response of streams) if (!response.writableEnded) response.end();
        server.close(() => resolve());
        // Pages keep their connections open: they go now, so close does not wait for them.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/** The token from the query or the Authorization header, compared in constant time (as digests: equal lengths). */
function authorized(request: IncomingMessage, url: URL, expected: Buffer): boolean {
  const header = request.headers.authorization;
  const given =
    url.searchParams.get('token') ?? (header?.startsWith('Bearer ') ? header.slice(7) : undefined);
  return given !== undefined && timingSafeEqual(digest(given), expected);
}

function html(query: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>troupe live view</title></head>
<body><main id="app">loading…</main>
<script type="module" src="dashboard.js${query}"></script></body></html>
`;
}
