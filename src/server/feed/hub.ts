/**
 * The feed's server side: one runtime subscription fanned out to every connected `FeedClient`, the client
 * cap, and the ping/pong sweep that drops dead peers.
 */
import type { WebSocket } from 'ws';
import type { EventEnvelope } from '../../kernel/index.js';
import type { Runtime } from '../../runtime/index.js';
import { FeedClient, type FeedClientConfig, type FeedFilter } from './client.js';

export interface FeedOptions {
  /**
   * Origins allowed to open the feed from a browser: a list of exact origins (`https://ops.example.com`),
   * or `'*'` for any. Default: same origin only (the Origin's host equals the Host header). Requests with
   * no Origin header (not from a browser) are allowed: the check exists against cross-site WebSocket hijacking.
   */
  allowedOrigins?: readonly string[] | '*';
  /** Connected clients before new handshakes get 503 `Overloaded` (default 1 000). */
  maxClients?: number;
  /** Bytes queued in one socket before that client is paused (default 1 MiB). */
  highWaterBytes?: number;
  /** Bytes queued below which a paused client resumes (default highWaterBytes / 4). */
  lowWaterBytes?: number;
  /** A client paused this long is closed with 4008 (default 30 000 ms). */
  maxPausedMs?: number;
  /** Events read from the log per catch-up step (default 256). */
  catchUpChunk?: number;
  /** Ping period; a client that missed the previous pong is dropped (default 30 000 ms). */
  pingIntervalMs?: number;
  /** Largest message a client may send (default 4 KiB; clients have nothing to say). */
  maxPayload?: number;
}

export type ResolvedFeedOptions = Required<Omit<FeedOptions, 'allowedOrigins'>> & { allowedOrigins: readonly string[] | '*' | 'same-origin' };

export function resolveFeedOptions(o: FeedOptions = {}): ResolvedFeedOptions {
  const highWaterBytes = o.highWaterBytes ?? 1024 * 1024;
  return {
    allowedOrigins: o.allowedOrigins ?? 'same-origin',
    maxClients: o.maxClients ?? 1000,
    highWaterBytes,
    lowWaterBytes: o.lowWaterBytes ?? Math.floor(highWaterBytes / 4),
    maxPausedMs: o.maxPausedMs ?? 30_000,
    catchUpChunk: o.catchUpChunk ?? 256,
    pingIntervalMs: o.pingIntervalMs ?? 30_000,
    maxPayload: o.maxPayload ?? 4096,
  };
}

export interface FeedCounters {
  sent(): void;
  paused(): void;
  closedSlow(): void;
}

export class FeedHub {
  readonly #runtime: Runtime;
  readonly #options: ResolvedFeedOptions;
  readonly #clients = new Set<FeedClient>();
  readonly #unsubscribe: () => void;
  readonly #pinger: NodeJS.Timeout;
  #counters: FeedCounters = { sent: () => undefined, paused: () => undefined, closedSlow: () => undefined };

  constructor(runtime: Runtime, options: ResolvedFeedOptions) {
    this.#runtime = runtime;
    this.#options = options;
    this.#unsubscribe = runtime.subscribe((events: EventEnvelope[]) => {
      for (const c of this.#clients) c.offer(events);
    });
    this.#pinger = setInterval(() => {
      for (const c of this.#clients) c.ping();
    }, options.pingIntervalMs);
    this.#pinger.unref();
  }

  get options(): ResolvedFeedOptions {
    return this.#options;
  }

  set counters(c: FeedCounters) {
    this.#counters = c;
  }

  get size(): number {
    return this.#clients.size;
  }

  get full(): boolean {
    return this.#clients.size >= this.#options.maxClients;
  }

  /** Clients that are paused right now (for tests and the slow-consumer metric). */
  get pausedCount(): number {
    let n = 0;
    for (const c of this.#clients) if (c.paused) n++;
    return n;
  }

  accept(socket: WebSocket, from: number[], partitions: readonly number[], filter: FeedFilter): FeedClient {
    const o = this.#options;
    const config: FeedClientConfig = { highWaterBytes: o.highWaterBytes, lowWaterBytes: o.lowWaterBytes, maxPausedMs: o.maxPausedMs, catchUpChunk: o.catchUpChunk };
    const client = new FeedClient(socket, this.#runtime, from, partitions, filter, config, {
      sent: () => this.#counters.sent(),
      paused: () => this.#counters.paused(),
      closedSlow: () => this.#counters.closedSlow(),
      closed: (c) => this.#clients.delete(c),
    });
    this.#clients.add(client);
    client.start();
    return client;
  }

  /** Per partition, the largest lag of any client. */
  lag(): number[] {
    const heads = this.#runtime.partitions().map((p) => p.offset);
    const out = heads.map(() => 0);
    for (const c of this.#clients) c.lag(heads).forEach((l, p) => (out[p] = Math.max(out[p]!, l)));
    return out;
  }

  /** Closes every client (1001 on shutdown) and stops listening to the runtime. */
  close(code: number, reason: string): void {
    clearInterval(this.#pinger);
    this.#unsubscribe();
    for (const c of [...this.#clients]) c.close(code, reason);
  }
}
