/**
 * A minimum rate for request bodies, instead of a fixed time limit per request.
 *
 * Node's `requestTimeout` (300 s by default) cuts a request that takes long, however steadily it
 * arrives: a 2 GiB upload at 20 KB/s needs 30 hours and was cut at 5 minutes. What we want to refuse is
 * a body that trickles (a slow-body attack holds a socket and a handler for almost nothing), so the rule
 * is: a body must arrive at `minBytesPerSecond` or faster, averaged over each `windowMs`. `requestTimeout`
 * is switched off (0); `headersTimeout` still bounds the headers.
 *
 * One sweep timer serves every request with a body: each sweep compares the bytes the socket read since
 * the previous judgement (`socket.bytesRead`, which also counts the bytes the parser has not handed out
 * yet) with what the rate asks for that long. A request is judged only once a whole window has passed.
 *
 * Gotchas:
 * - Never blame the client for our own backpressure: when the body stream holds unread data (the
 *   handler is slower than the client, e.g. a busy disk), the window is skipped, not judged.
 * - Cutting: `IncomingMessage.destroy()` destroys the socket, so the 408 is written first, straight on
 *   the socket, and then the body stream is destroyed with `RequestTimeout`, which the handler sees as
 *   the reason its body failed. Its own error reply then finds the socket gone and is dropped.
 * - Keep-alive sockets carry several requests: `bytesRead` is per socket, so the baseline is taken when
 *   the request is registered, not when the socket opened.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { ErrorCodes, RuntimeError } from '../../kernel/index.js';

export interface BodyRateOptions {
  minBytesPerSecond: number;
  windowMs: number;
}

interface Watched {
  raw: IncomingMessage;
  res: ServerResponse;
  bytes: number;
  at: number;
}

export class BodyRateGuard {
  readonly #o: BodyRateOptions;
  readonly #watched = new Set<Watched>();
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;

  constructor(o: BodyRateOptions, now: () => number = () => performance.now()) {
    this.#o = o;
    this.#now = now;
  }

  get size(): number {
    return this.#watched.size;
  }

  /** Watches `raw` until its body is complete or it closes. Bodyless requests are not watched. */
  watch(raw: IncomingMessage, res: ServerResponse): void {
    // Only real sockets: an injected request (light-my-request) has a stand-in with no byte counts.
    if (!hasBody(raw) || raw.complete || !(raw.socket instanceof Socket)) return;
    const w: Watched = { raw, res, bytes: raw.socket.bytesRead, at: this.#now() };
    this.#watched.add(w);
    raw.once('close', () => this.#watched.delete(w));
    // Half a window between sweeps: each request is judged after one to one and a half windows.
    this.#timer ??= setInterval(() => this.sweep(), Math.max(10, Math.floor(this.#o.windowMs / 2))).unref();
  }

  /** One pass over the watched requests (the timer calls it; tests may too). */
  sweep(): void {
    const now = this.#now();
    for (const w of this.#watched) {
      const { raw, res } = w;
      const socket = raw.socket;
      if (raw.complete || raw.destroyed || !(socket instanceof Socket) || socket.destroyed) {
        this.#watched.delete(w);
        continue;
      }
      const elapsed = now - w.at;
      if (elapsed < this.#o.windowMs) continue;
      const got = socket.bytesRead - w.bytes;
      const backpressured = raw.readableLength > 0 || socket.isPaused();
      w.bytes = socket.bytesRead;
      w.at = now;
      if (backpressured) continue;
      const needed = (this.#o.minBytesPerSecond * elapsed) / 1000;
      if (got >= needed) continue;
      this.#watched.delete(w);
      this.#cut(raw, res, Math.round((got * 1000) / elapsed), elapsed);
    }
    if (this.#watched.size === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#watched.clear();
  }

  #cut(raw: IncomingMessage, res: ServerResponse, rate: number, elapsedMs: number): void {
    const message = `the request body arrived at ${rate} bytes/s over the last ${Math.round(elapsedMs)} ms; the minimum is ${this.#o.minBytesPerSecond} bytes/s`;
    const err = new RuntimeError(ErrorCodes.RequestTimeout, message, { minBodyBytesPerSecond: this.#o.minBytesPerSecond });
    const socket = raw.socket;
    if (!socket || socket.destroyed || res.headersSent) {
      raw.destroy(err);
      return;
    }
    const body = JSON.stringify({ error: ErrorCodes.RequestTimeout, message, minBodyBytesPerSecond: this.#o.minBytesPerSecond });
    // Destroy only once the answer is in the kernel: closing with a write pending would cancel it.
    socket.write(`HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`, () => raw.destroy(err));
  }
}

function hasBody(raw: IncomingMessage): boolean {
  const length = raw.headers['content-length'];
  if (length !== undefined) return length !== '0';
  return raw.headers['transfer-encoding'] !== undefined;
}
