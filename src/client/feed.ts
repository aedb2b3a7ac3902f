/**
 * The feed client: `GET /feed` (docs/http-api.md, "WebSocket feed") as an async iterable of batches that
 * survives disconnections. It remembers the position of the last message it received and, when the
 * socket drops (a server restart, a network cut, a 4008 for reading too slowly), reconnects by itself
 * with backoff and `?from=<that position>`: the server then sends exactly the events after it, so the
 * batches handed out have no gap and no duplicate across any number of reconnections.
 *
 * Why the position is enough: a position is the next offset of every partition; each partition's log is
 * totally ordered and offsets are never reused, so "everything below these offsets" names exactly what
 * was received (kernel/position.ts). As a second line, the client drops any event whose offset is below
 * what it already holds for that partition: a duplicate can never reach the caller.
 *
 * Bounded memory: received batches wait in a queue until the caller pulls them. When the queue passes
 * `maxBufferedEvents` or `maxBufferedBytes`, the client closes the socket (it cannot pause a WebSocket)
 * and reconnects from the position of the last batch it queued once the caller has drained half of it:
 * a slow consumer costs a reconnection, never unbounded memory and never a lost event.
 *
 * A refused handshake is invisible to a WebSocket (the browser API shows only close code 1006), so after
 * a connection that never opened the client asks the same URL over plain HTTP: the server answers the
 * refusal there in its JSON error shape (401, 403, a bad `from`: 400, ...) or 426 when a handshake would
 * pass. A refusal that retrying cannot fix ends the feed with that error; anything else is retried.
 *
 * A dead connection that never closes (a server host powered off, a NAT that forgot the connection) sends
 * nothing and tells nothing. The server sends a heartbeat message to a client it had nothing to send for a
 * ping period (30 s), so a connection that brought no message at all for `idleTimeoutMs` (default 90 s) is
 * taken for dead: the client drops it (status `disconnected`, code 1006) and reconnects from its position.
 *
 * Gotchas:
 * - `position` is the position of the last batch handed to the caller: save it *after* processing the
 *   batch, and pass it as `from` to resume in another process.
 * - A feed started with `from: 'now'` that drops before its first message (the hello) reconnects with
 *   `now` again: it had not started yet. From the hello on, it resumes from a position.
 * - The close codes that end the feed instead of reconnecting: 1009 (the client sent a message; it never
 *   does) and 1011 (the server cannot read its log: an operator must act). Both end with `FeedClosed`.
 */
import { backoffDelay, resolveReconnect, type ReconnectOptions, type ResolvedReconnect } from './backoff.js';
import { CLIENT_ERROR_CODES, EventideClientError, clientError } from './errors.js';
import { isPosition, offsetsOf, parseMessage, textOf } from './feed-message.js';
import type { EventJson } from './types.js';

/**
 * What the feed needs of a WebSocket: the standard browser API, which `ws`'s class also implements.
 * Handlers are typed as methods so that `ws`'s and the DOM's own event types fit.
 */
export interface FeedSocket {
  onopen: { handle(event: unknown): void }['handle'] | null;
  onmessage: { handle(event: { data: unknown }): void }['handle'] | null;
  onclose: { handle(event: { code: number; reason: string }): void }['handle'] | null;
  onerror: { handle(event: unknown): void }['handle'] | null;
  close(code?: number, reason?: string): void;
}

/** `globalThis.WebSocket` in browsers, Deno, Bun and Node >= 22; on Node 20 pass `WebSocket` from the `ws` package. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => FeedSocket;

export interface FeedOptions {
  /** `'start'` (the whole log), `'now'` (the default: what is committed from now on), or a position to resume after. */
  from?: string;
  /** Only events of this aggregate type. */
  type?: string;
  /** Only events of this aggregate id. */
  stream?: string;
  /** The WebSocket class to use (default `globalThis.WebSocket`). */
  WebSocket?: WebSocketConstructor;
  /** Backoff between attempts, or `false` to end the feed (`FeedClosed`) at the first disconnection. */
  reconnect?: ReconnectOptions | false;
  /** Events held for the caller before the client stops reading (default 10 000). */
  maxBufferedEvents?: number;
  /** Size of the messages held for the caller (their JSON text, in characters) before the client stops reading (default 16 Mi). */
  maxBufferedBytes?: number;
  /** Ends the feed: pending and later `next()` calls reject with `Aborted`. */
  signal?: AbortSignal;
  /** Told about every connection change (for logs, a status light, tests). */
  onStatus?: (status: FeedStatus) => void;
  /**
   * A connection (or a handshake) that brings no message for this long is taken for dead and replaced
   * (default 90 000 ms; the server sends a heartbeat after 30 s of nothing; 0: never).
   */
  idleTimeoutMs?: number;
}

export type FeedStatus =
  | { state: 'connecting'; from: string; attempt: number }
  | { state: 'open'; position: string }
  | { state: 'disconnected'; code: number; reason: string; retryInMs: number }
  | { state: 'paused'; bufferedEvents: number; bufferedBytes: number }
  | { state: 'closed'; error?: EventideClientError };

/** One feed message: events in order per partition, and the position just after them. */
export interface FeedBatch {
  position: string;
  events: EventJson[];
}

/** What the feed asks of the HTTP side (client.ts). */
export interface FeedEndpoint {
  /** The WebSocket URL for a query. */
  socketUrl(query: Record<string, string | undefined>): string;
  /** Subprotocols to offer (the bearer token pair), if any. */
  protocols: string[] | undefined;
  /** `GET` the same URL over HTTP: what refused the handshake (an error), or undefined when a handshake would pass. */
  probe(query: Record<string, string | undefined>): Promise<EventideClientError | undefined>;
}

const DEFAULT_MAX_EVENTS = 10_000;
const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;
const DEFAULT_IDLE_TIMEOUT_MS = 90_000;
/** What a dropped connection reports (the standard "closed with no close frame"). */
const ABNORMAL_CLOSURE = 1006;
/** How long `close()` waits for the server's close frame before it resolves anyway. */
const CLOSE_WAIT_MS = 2000;
const CLOSE_CODES_FATAL = new Set([1009, 1011]);

type Pull = { resolve: (r: IteratorResult<FeedBatch>) => void; reject: (e: unknown) => void };
type Queued = { batch: FeedBatch; bytes: number };

export class FeedSubscription implements AsyncIterableIterator<FeedBatch> {
  readonly #endpoint: FeedEndpoint;
  readonly #WebSocket: WebSocketConstructor;
  readonly #filter: { type: string | undefined; stream: string | undefined };
  readonly #reconnect: ResolvedReconnect | false;
  readonly #maxEvents: number;
  readonly #maxBytes: number;
  readonly #onStatus: ((s: FeedStatus) => void) | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #idleTimeoutMs: number;
  /** Looks whether the current connection has brought nothing for `idleTimeoutMs`. */
  #idle: ReturnType<typeof setTimeout> | undefined;
  /** When the current connection was opened or last brought a message (`performance.now()`: elapsed time, not the wall clock). */
  #heardAt = 0;

  #socket: FeedSocket | null = null;
  #state: 'connecting' | 'open' | 'waiting' | 'paused' | 'closed' = 'connecting';
  /** Where the next connection starts: the position of the last message queued (or the caller's `from`). */
  #from: string;
  /** Per partition, the offset below which every event was received (the duplicate guard). */
  #seen: number[] | undefined;
  #delivered: string | undefined;
  #attempt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #queue: Queued[] = [];
  #bufferedEvents = 0;
  #bufferedBytes = 0;
  readonly #pulls: Pull[] = [];
  #error: EventideClientError | undefined;
  #closed: Promise<void> = Promise.resolve();
  readonly #onAbort = (): void => this.#fail(clientError(CLIENT_ERROR_CODES.Aborted, 'the feed was aborted by the caller', {}, this.#signal?.reason), true);

  constructor(endpoint: FeedEndpoint, options: FeedOptions = {}) {
    const WS = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (typeof WS !== 'function') {
      throw new EventideClientError({ code: 'InvalidOptions', status: 0, message: "no WebSocket here (Node 20 has none): pass one, e.g. `feed({ WebSocket })` with `import { WebSocket } from 'ws'`" });
    }
    this.#endpoint = endpoint;
    this.#WebSocket = WS;
    this.#filter = { type: options.type, stream: options.stream };
    this.#reconnect = options.reconnect === false ? false : resolveReconnect(options.reconnect);
    this.#maxEvents = positive(options.maxBufferedEvents, DEFAULT_MAX_EVENTS, 'maxBufferedEvents');
    this.#maxBytes = positive(options.maxBufferedBytes, DEFAULT_MAX_BYTES, 'maxBufferedBytes');
    this.#onStatus = options.onStatus;
    // setTimeout takes at most 2^31 - 1 ms (a larger delay fires at once): ~24.8 days is "never" enough.
    this.#idleTimeoutMs = options.idleTimeoutMs === 0 ? 0 : Math.min(positive(options.idleTimeoutMs, DEFAULT_IDLE_TIMEOUT_MS, 'idleTimeoutMs'), 2 ** 31 - 1);
    this.#from = options.from ?? 'now';
    if (isPosition(this.#from)) {
      this.#seen = offsetsOf(this.#from);
      this.#delivered = this.#from;
    }
    this.#signal = options.signal;
    if (this.#signal?.aborted) {
      this.#state = 'closed';
      this.#error = clientError(CLIENT_ERROR_CODES.Aborted, 'the feed was aborted by the caller', {}, this.#signal.reason);
      return;
    }
    this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
    this.#connect();
  }

  /** The position of the last batch handed out (or where the feed started): pass it as `from` to resume. */
  get position(): string | undefined {
    return this.#delivered;
  }

  /** Events received and not yet handed out. */
  get bufferedEvents(): number {
    return this.#bufferedEvents;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<FeedBatch>> {
    const q = this.#shift();
    if (q) return Promise.resolve({ value: q, done: false });
    if (this.#error) return Promise.reject(this.#error);
    if (this.#state === 'closed') return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => this.#pulls.push({ resolve, reject }));
  }

  /** Ends the iteration (a `break` out of `for await` calls it). */
  async return(): Promise<IteratorResult<FeedBatch>> {
    await this.close();
    return { value: undefined, done: true };
  }

  /** Closes the socket (code 1000) and ends the iteration; resolves once the socket is closed. */
  async close(): Promise<void> {
    if (this.#state !== 'closed') {
      this.#stop();
      this.#queue.length = 0;
      this.#bufferedEvents = this.#bufferedBytes = 0;
      this.#status({ state: 'closed' });
      for (const p of this.#pulls.splice(0)) p.resolve({ value: undefined, done: true });
    }
    await this.#closed;
  }

  #connect(): void {
    this.#timer = undefined;
    if (this.#state === 'closed') return;
    this.#state = 'connecting';
    const query = this.#query();
    this.#status({ state: 'connecting', from: this.#from, attempt: this.#attempt });
    let socket: FeedSocket;
    try {
      socket = new this.#WebSocket(this.#endpoint.socketUrl(query), this.#endpoint.protocols);
    } catch (err) {
      this.#fail(new EventideClientError({ code: 'InvalidOptions', status: 0, message: `cannot open the feed: ${err instanceof Error ? err.message : String(err)}`, cause: err }));
      return;
    }
    this.#socket = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true;
    };
    socket.onerror = () => undefined; // a close event follows; it says what to do
    socket.onmessage = (event) => {
      if (this.#socket !== socket) return;
      this.#heardAt = performance.now();
      this.#onMessage(event.data);
    };
    socket.onclose = (event) => {
      if (this.#socket !== socket) return; // retired by us (paused, closed)
      this.#socket = null;
      this.#unwatch();
      void this.#onDrop(event.code, event.reason, opened, query);
    };
    this.#watch(socket, () => opened, query);
  }

  /**
   * Watches `socket` for silence (see the header): one timer per connection, which looks at the time of
   * the last message when it fires and waits out the rest (no timer to reset on every message).
   */
  #watch(socket: FeedSocket, opened: () => boolean, query: Record<string, string | undefined>): void {
    if (this.#idleTimeoutMs === 0) return;
    this.#unwatch();
    this.#heardAt = performance.now();
    const look = (): void => {
      this.#idle = undefined;
      if (this.#socket !== socket) return;
      const quiet = performance.now() - this.#heardAt;
      if (quiet < this.#idleTimeoutMs) {
        this.#idle = setTimeout(look, this.#idleTimeoutMs - quiet);
        return;
      }
      this.#retire(1000, 'no message for too long');
      void this.#onDrop(ABNORMAL_CLOSURE, `no message from the server for ${this.#idleTimeoutMs} ms: the connection is taken for dead`, opened(), query);
    };
    this.#idle = setTimeout(look, this.#idleTimeoutMs);
  }

  #unwatch(): void {
    if (this.#idle !== undefined) clearTimeout(this.#idle);
    this.#idle = undefined;
  }

  #query(): Record<string, string | undefined> {
    return { from: this.#from, type: this.#filter.type, stream: this.#filter.stream };
  }

  #onMessage(data: unknown): void {
    const text = textOf(data);
    const m = text === undefined ? undefined : parseMessage(text);
    if (!m) {
      this.#fail(clientError(CLIENT_ERROR_CODES.InvalidResponse, `the feed sent a message that is not a feed message: ${JSON.stringify(String(text ?? typeof data).slice(0, 120))}`));
      return;
    }
    if (m.kind === 'other') return; // a kind this client does not know (a newer server): not for it
    if (m.kind === 'hello') {
      this.#attempt = 0;
      this.#from = m.position;
      this.#seen ??= offsetsOf(m.position);
      this.#delivered ??= m.position;
      this.#state = 'open';
      this.#status({ state: 'open', position: m.position });
      return;
    }
    const seen = this.#seen;
    if (!seen) return; // events before a hello: not this server's protocol; the position is unknown
    const fresh = m.events.filter((e) => e.offset >= (seen[e.partition] ?? 0));
    offsetsOf(m.position).forEach((o, p) => (seen[p] = Math.max(seen[p] ?? 0, o)));
    this.#from = m.position;
    if (fresh.length > 0) {
      this.#queue.push({ batch: { position: m.position, events: fresh }, bytes: m.bytes });
      this.#bufferedEvents += fresh.length;
      this.#bufferedBytes += m.bytes;
      this.#hand();
    }
    if (this.#state === 'open' && (this.#bufferedEvents > this.#maxEvents || this.#bufferedBytes > this.#maxBytes)) this.#pause();
  }

  /** Gives queued batches to waiting pulls. */
  #hand(): void {
    while (this.#pulls.length > 0) {
      const q = this.#shift();
      if (!q) break;
      this.#pulls.shift()!.resolve({ value: q, done: false });
    }
  }

  #shift(): FeedBatch | undefined {
    const q = this.#queue.shift();
    if (!q) return undefined;
    this.#bufferedEvents -= q.batch.events.length;
    this.#bufferedBytes -= q.bytes;
    this.#delivered = q.batch.position;
    if (this.#state === 'paused' && this.#bufferedEvents <= this.#maxEvents / 2 && this.#bufferedBytes <= this.#maxBytes / 2) {
      this.#attempt = 0;
      this.#connect();
    }
    return q.batch;
  }

  /** Stops reading: the server keeps nothing for us, we reconnect from `#from` once drained. */
  #pause(): void {
    this.#state = 'paused';
    this.#unwatch();
    this.#retire(1000, 'client buffer full; resuming from its position later');
    this.#status({ state: 'paused', bufferedEvents: this.#bufferedEvents, bufferedBytes: this.#bufferedBytes });
  }

  async #onDrop(code: number, reason: string, opened: boolean, query: Record<string, string | undefined>): Promise<void> {
    if (this.#state === 'closed' || this.#state === 'paused') return;
    if (CLOSE_CODES_FATAL.has(code) || this.#reconnect === false) {
      this.#fail(clientError(CLIENT_ERROR_CODES.FeedClosed, `the feed closed with code ${code}${reason ? `: ${reason}` : ''}`, { closeCode: code, reason }));
      return;
    }
    const reconnect = this.#reconnect;
    this.#state = 'waiting';
    let waitMs = backoffDelay(this.#attempt, reconnect);
    if (!opened) {
      // The handshake failed: ask over HTTP why, and stop for a refusal that retrying cannot fix.
      const refusal = await this.#endpoint.probe(query);
      if (this.#state !== 'waiting') return;
      if (refusal && isFinal(refusal)) {
        this.#fail(refusal);
        return;
      }
      if (refusal?.retryAfter !== undefined) waitMs = Math.max(waitMs, refusal.retryAfter * 1000);
    }
    this.#attempt++;
    if (this.#attempt > reconnect.maxAttempts) {
      this.#fail(clientError(CLIENT_ERROR_CODES.NetworkError, `the feed could not reconnect in ${reconnect.maxAttempts} attempts (last close code ${code})`, { closeCode: code, reason }));
      return;
    }
    this.#status({ state: 'disconnected', code, reason, retryInMs: waitMs });
    this.#timer = setTimeout(() => this.#connect(), waitMs);
  }

  /** Ends the feed with `error`: batches already queued are still handed out first, unless `now`. */
  #fail(error: EventideClientError, now = false): void {
    if (this.#state === 'closed') return;
    this.#stop();
    this.#error = error;
    if (now) {
      this.#queue.length = 0;
      this.#bufferedEvents = this.#bufferedBytes = 0;
    }
    this.#status({ state: 'closed', error });
    this.#hand();
    for (const p of this.#pulls.splice(0)) p.reject(error);
  }

  #stop(): void {
    this.#state = 'closed';
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#unwatch();
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#retire(1000, 'client closed');
  }

  /** Closes the current socket without reacting to its close event; `close()` waits for that event. */
  #retire(code: number, reason: string): void {
    const socket = this.#socket;
    this.#socket = null;
    if (!socket) return;
    this.#closed = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, CLOSE_WAIT_MS);
      socket.onclose = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    socket.onmessage = null;
    try {
      socket.close(code, reason);
    } catch {
      // Already closing, or never opened: nothing more to do.
    }
  }

  #status(s: FeedStatus): void {
    this.#onStatus?.(s);
  }
}

/** A refusal retrying cannot fix: a 4xx but 408 (timeout), 426 (the handshake would pass) and 429 (later). */
function isFinal(e: EventideClientError): boolean {
  return e.status >= 400 && e.status < 500 && e.status !== 408 && e.status !== 426 && e.status !== 429;
}

function positive(v: number | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v < 1) throw new EventideClientError({ code: 'InvalidOptions', status: 0, message: `${name} must be an integer >= 1, got ${String(v)}` });
  return v;
}
