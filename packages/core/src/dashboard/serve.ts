// `serveDashboard` for the runtime and the job dispatcher alike: the options checked up front, the
// server started on a feed, and every dashboard of one owner ended and closed when the owner
// shuts down. The server module is loaded only when a dashboard is served.
import { TroupeError } from '@troupe/transport';
import { checkShape, integer, invalid, nonEmptyString, type Shape, string } from '../options.js';
import type { DashboardFeed } from './feed.js';

export interface DashboardOptions {
  /** The TCP port; 0 (the default) picks a free one. */
  port?: number;
  /** The address to bind. Default '127.0.0.1'; any other needs a `token`. */
  host?: string;
  /**
   * Required when `host` is not 127.0.0.1 (at least 16 characters): the page and its data then
   * answer only a request that carries it (`?token=…`, or `Authorization: Bearer …`).
   */
  token?: string;
}

export interface Dashboard {
  /** The page's address (with the token, if there is one). */
  readonly url: string;
  /** Stops serving; idempotent. Pages already open keep what they show. */
  close(): Promise<void>;
}

const LOOPBACK = '127.0.0.1';
/** What one page may leave unread before it gets a snapshot instead of batches. */
const MAX_BUFFERED_BYTES = 1 << 20;

const dashboardShape: Shape<DashboardOptions> = {
  port: integer(0, 65535),
  host: nonEmptyString,
  token: (value, path) => {
    string(value, path);
    if ((value as string).length < 16)
      throw invalid(path, 'a string of at least 16 characters', '(a shorter string)');
  },
};

/** Refuses bad options before anything starts: a bind beyond 127.0.0.1 without a token above all. */
export function checkDashboardOptions(options: DashboardOptions): void {
  checkShape(options, dashboardShape, '');
  const host = options.host ?? LOOPBACK;
  if (host !== LOOPBACK && options.token === undefined)
    throw invalid(
      'token',
      `given when host is not ${LOOPBACK} (host is '${host}': without a token anyone who can reach it would see the run)`,
      undefined,
    );
}

/** The dashboards one runtime or dispatcher serves: each fed by its own feed, all ended together. */
export class Dashboards {
  readonly #served = new Set<{ feed: DashboardFeed; close: () => Promise<void> }>();
  readonly #owner: string;
  #closed = false;

  /** `owner` names the runtime or dispatcher in errors: 'the runtime'. */
  constructor(owner: string) {
    this.#owner = owner;
  }

  /** Serves `feed`; `detach` stops feeding it (called once, when this dashboard closes). */
  async serve(feed: DashboardFeed, options: DashboardOptions, detach: () => void): Promise<Dashboard> {
    let server: { url: string; close(): Promise<void> };
    try {
      if (this.#closed) throw new TroupeError(`${this.#owner} has stopped: its dashboards are closed`);
      const { startDashboardServer } = await import('./server.js');
      server = await startDashboardServer(feed, {
        port: options.port ?? 0,
        host: options.host ?? LOOPBACK,
        token: options.token,
        maxBufferedBytes: MAX_BUFFERED_BYTES,
      });
    } catch (error) {
      detach();
      feed.stop();
      throw error;
    }
    if (this.#closed) {
      // The owner shut down while the server was starting: nothing would ever close it.
      detach();
      feed.stop();
      await server.close();
      throw new TroupeError(`${this.#owner} stopped while its dashboard was starting`);
    }
    let closing: Promise<void> | undefined;
    const entry = {
      feed,
      close: () => {
        closing ??= (async () => {
          this.#served.delete(entry);
          detach();
          // The pages hear "run ended" with the last state before their connection goes.
          feed.end();
          feed.stop();
          await server.close();
        })();
        return closing;
      },
    };
    this.#served.add(entry);
    return { url: server.url, close: entry.close };
  }

  /** The owner shut down: every page hears the run ended, and every server closes. */
  async closeAll(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#served].map((entry) => entry.close()));
  }
}
