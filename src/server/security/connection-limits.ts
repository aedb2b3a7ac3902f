/**
 * Bounds on connections, so one client cannot take the file descriptors (or the feed) from everyone:
 * a total (`server.maxConnections`), a cap per remote address for HTTP connections, and a smaller one
 * per address for feed WebSockets.
 *
 * Why per address and not only a total: with only a total, 1 000 idle sockets from one host lock out
 * every other client. With a cap per address, that host's excess is refused and everyone else still
 * gets in. Behind a reverse proxy every client shares the proxy's address: raise the caps there (the
 * proxy should apply its own per-client limits).
 *
 * An excess HTTP connection is answered with a minimal 429 in our error shape and closed at once: the
 * response is written before any request was read, which HTTP clients accept and show; holding the
 * socket open any longer would spend the very descriptor the cap protects.
 *
 * Gotchas:
 * - The `connection` listener runs after Node's own one (added in the http.Server constructor), so the
 *   socket already has a parser; destroying it in the same tick means no request of it is ever parsed.
 * - An upgraded (WebSocket) socket is the same net.Socket: it stays counted until it closes.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { ErrorCodes } from '../../kernel/index.js';

export interface ConnectionLimitOptions {
  maxConnections: number;
  maxConnectionsPerAddress: number;
  maxFeedPerAddress: number;
}

/** Seconds a refused client is told to wait. */
export const CONNECTION_RETRY_AFTER_S = 5;

export function addressOf(socket: Socket | undefined): string {
  // An address can be undefined once the peer is gone; those sockets share one bucket.
  return socket?.remoteAddress ?? '';
}

/** Counts live sockets per address; `admit` takes a slot until the socket closes. */
export class AddressCounter {
  readonly #counts = new Map<string, number>();
  readonly #counted = new WeakSet<Socket>();
  readonly #cap: number;

  constructor(cap: number) {
    this.#cap = cap;
  }

  get cap(): number {
    return this.#cap;
  }

  count(address: string): number {
    return this.#counts.get(address) ?? 0;
  }

  /** False when the socket's address already holds `cap` slots; a socket admitted once stays admitted. */
  admit(socket: Socket): boolean {
    if (this.#counted.has(socket)) return true;
    const address = addressOf(socket);
    const n = this.count(address);
    if (n >= this.#cap) return false;
    this.#counts.set(address, n + 1);
    this.#counted.add(socket);
    socket.once('close', () => {
      const left = this.count(address) - 1;
      if (left > 0) this.#counts.set(address, left);
      else this.#counts.delete(address);
    });
    return true;
  }
}

/** Applies the total and the per-address HTTP cap to `server`; returns the detach function. */
export function limitConnections(server: Server, o: ConnectionLimitOptions): () => void {
  server.maxConnections = o.maxConnections;
  const perAddress = new AddressCounter(o.maxConnectionsPerAddress);
  const refusal = refusalResponse(`too many connections from your address (at most ${o.maxConnectionsPerAddress}): close idle ones or retry later`);
  const onConnection = (socket: Socket): void => {
    if (perAddress.admit(socket)) return;
    socket.on('error', () => undefined);
    socket.end(refusal);
    socket.destroySoon();
  };
  server.on('connection', onConnection);
  return () => server.off('connection', onConnection);
}

function refusalResponse(message: string): string {
  const body = JSON.stringify({ error: ErrorCodes.RateLimited, message, retryAfter: CONNECTION_RETRY_AFTER_S });
  return [
    'HTTP/1.1 429 Too Many Requests',
    'content-type: application/json; charset=utf-8',
    `content-length: ${Buffer.byteLength(body)}`,
    `retry-after: ${CONNECTION_RETRY_AFTER_S}`,
    'connection: close',
    '',
    body,
  ].join('\r\n');
}
