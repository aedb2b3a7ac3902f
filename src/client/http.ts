/**
 * The one place the client calls `fetch`: the base URL, the bearer token, the JSON content type every
 * mutating route requires, a deadline per call (`timeoutMs`) joined with the caller's `AbortSignal`, and
 * every failure turned into an `EventideClientError` (errors.ts).
 *
 * Gotchas:
 * - The deadline covers the whole call, body included: a server that sends headers and then stalls
 *   still times out. For `response()` (downloads) it covers the headers only; the body is the caller's.
 * - `fetch` is called as a plain function, never as a method of this object: browsers throw "Illegal
 *   invocation" when `window.fetch` runs with another `this`.
 * - A timed-out or aborted command may still have been applied (the request may have reached the
 *   server): send it again with the same `commandId`.
 */
import { CLIENT_ERROR_CODES, EventideClientError, clientError, errorFromAnswer } from './errors.js';

export type FetchFunction = (input: string, init?: RequestInit) => Promise<Response>;

export interface TransportOptions {
  /** The server's URL, e.g. `http://127.0.0.1:3000` (a path prefix is kept: `https://host/eventide`). */
  baseUrl: string;
  /** A bearer token, sent as `Authorization: Bearer <token>` (and on the feed as its subprotocol). */
  token?: string | undefined;
  /** Milliseconds a call may take (default 30 000; 0: no deadline). Uploads have none unless given per call. */
  timeoutMs?: number | undefined;
  /** Another fetch (a test double, undici's with a dispatcher); default `globalThis.fetch`. */
  fetch?: FetchFunction | undefined;
  /** Headers sent with every request (a tracing header, a proxy's key). */
  headers?: Record<string, string> | undefined;
}

/** What every call takes besides its own arguments. */
export interface CallOptions {
  signal?: AbortSignal | undefined;
  /** This call's deadline in ms (0: none), instead of the client's. */
  timeoutMs?: number | undefined;
}

export type Query = Record<string, string | number | boolean | undefined>;

interface Call extends CallOptions {
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  query?: Query;
  /** A JSON body; a POST without one still says `content-type: application/json` (the server requires it). */
  json?: unknown;
  /** A raw body (uploads), sent with `contentType`. */
  body?: NonNullable<RequestInit['body']>;
  contentType?: string;
  headers?: Record<string, string>;
  /** Use no deadline unless the call gives one (uploads). */
  noDefaultTimeout?: boolean;
}

const DEFAULT_TIMEOUT_MS = 30_000;
/** What a deadline leaves beyond a wait the server was asked for (the answer still has to arrive). */
const WAIT_MARGIN_MS = 5000;

/** One path segment, encoded (an id may hold `:`; a view name may be anything). */
export function segment(s: string): string {
  return encodeURIComponent(s);
}

export class Transport {
  readonly baseUrl: string;
  readonly token: string | undefined;
  readonly #fetch: FetchFunction;
  readonly #timeoutMs: number;
  readonly #headers: Record<string, string>;

  constructor(options: TransportOptions) {
    if (typeof options.baseUrl !== 'string' || !/^https?:\/\//i.test(options.baseUrl)) {
      throw new EventideClientError({ code: 'InvalidOptions', status: 0, message: `baseUrl must be an http:// or https:// URL, got ${JSON.stringify(String(options.baseUrl).slice(0, 200))}` });
    }
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.token = options.token;
    const f = options.fetch ?? (globalThis as { fetch?: FetchFunction }).fetch;
    if (typeof f !== 'function') throw new EventideClientError({ code: 'InvalidOptions', status: 0, message: 'no fetch: pass one in the `fetch` option' });
    this.#fetch = (input, init) => f(input, init);
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#headers = { ...options.headers };
  }

  /** The client's deadline, stretched to outlast a server-side wait of `waitMs` (0 stays "no deadline"). */
  deadlineFor(waitMs: number): number {
    return this.#timeoutMs === 0 ? 0 : Math.max(this.#timeoutMs, waitMs + WAIT_MARGIN_MS);
  }

  /** An absolute URL for a path of the server (`/videos/v-1/renditions/720`), with a query. */
  url(path: string, query: Query = {}): string {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
    const q = params.toString();
    return `${this.baseUrl}${path.startsWith('/') ? path : `/${path}`}${q ? `?${q}` : ''}`;
  }

  /** Calls the server and answers its JSON body; any non-2xx is thrown as an `EventideClientError`. */
  async json<T>(call: Call): Promise<T> {
    return this.#run(call, async (res, url) => {
      const text = await res.text();
      if (!res.ok) throw errorFromAnswer(res.status, res.headers, text);
      try {
        return JSON.parse(text) as T;
      } catch (err) {
        throw new EventideClientError({ code: CLIENT_ERROR_CODES.InvalidResponse, status: res.status, message: `${call.method} ${url}: HTTP ${res.status} with a body that is not JSON`, cause: err });
      }
    });
  }

  /** Calls the server and answers the `Response` itself once its headers are in (files); non-2xx is thrown. */
  async response(call: Call): Promise<Response> {
    return this.#run(call, async (res) => {
      if (!res.ok) throw errorFromAnswer(res.status, res.headers, await res.text());
      return res;
    }, true);
  }

  async #run<T>(call: Call, read: (res: Response, url: string) => Promise<T>, headersOnly = false): Promise<T> {
    const url = this.url(call.path, call.query);
    const timeoutMs = call.timeoutMs ?? (call.noDefaultTimeout ? 0 : this.#timeoutMs);
    const deadline = new Deadline(timeoutMs, call.signal);
    try {
      if (call.signal?.aborted) throw deadline.failure(url);
      const headers: Record<string, string> = { accept: 'application/json', ...this.#headers, ...call.headers };
      if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
      const init: RequestInit & { duplex?: 'half' } = { method: call.method, headers, signal: deadline.signal };
      if (call.body !== undefined) {
        headers['content-type'] = call.contentType ?? 'application/octet-stream';
        init.body = call.body;
        // Node's fetch (and the fetch standard) needs this to send a stream as the body.
        init.duplex = 'half';
      } else if (call.method !== 'GET') {
        headers['content-type'] = 'application/json';
        if (call.json !== undefined) init.body = JSON.stringify(call.json);
      }
      let res: Response;
      try {
        res = await this.#fetch(url, init);
      } catch (err) {
        throw deadline.fired ? deadline.failure(url) : clientError(CLIENT_ERROR_CODES.NetworkError, `${call.method} ${url}: ${messageOf(err)}`, {}, err);
      }
      // A download's body is read by the caller: the deadline stops here, the caller's signal still applies.
      if (headersOnly) deadline.clearTimer();
      try {
        return await read(res, url);
      } catch (err) {
        if (EventideClientError.is(err)) throw err;
        throw deadline.fired ? deadline.failure(url) : clientError(CLIENT_ERROR_CODES.NetworkError, `${call.method} ${url}: the answer broke off: ${messageOf(err)}`, {}, err);
      }
    } finally {
      if (headersOnly) deadline.clearTimer();
      else deadline.clear();
    }
  }
}

/**
 * One call's end: its own timer and the caller's signal, joined into one signal for fetch. Written out
 * rather than `AbortSignal.any`/`AbortSignal.timeout` so it runs on every runtime with fetch, and so the
 * error can say which of the two fired.
 */
class Deadline {
  readonly #controller = new AbortController();
  readonly #caller: AbortSignal | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timedOut = false;
  readonly #ms: number;
  readonly #onAbort = (): void => this.#controller.abort();

  constructor(ms: number, caller: AbortSignal | undefined) {
    this.#ms = ms;
    this.#caller = caller;
    caller?.addEventListener('abort', this.#onAbort, { once: true });
    if (ms > 0) {
      this.#timer = setTimeout(() => {
        this.#timedOut = true;
        this.#controller.abort();
      }, ms);
    }
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get fired(): boolean {
    return this.#timedOut || this.#caller?.aborted === true;
  }

  failure(url: string): EventideClientError {
    if (this.#caller?.aborted) return clientError(CLIENT_ERROR_CODES.Aborted, `${url}: aborted by the caller`, {}, this.#caller.reason);
    return clientError(CLIENT_ERROR_CODES.Timeout, `${url}: no complete answer within ${this.#ms} ms`, { timeoutMs: this.#ms });
  }

  clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The timer, and the link to the caller's signal. */
  clear(): void {
    this.clearTimer();
    this.#caller?.removeEventListener('abort', this.#onAbort);
  }
}

function messageOf(err: unknown): string {
  if (typeof err !== 'object' || err === null) return String(err);
  const e = err as { message?: unknown; cause?: { message?: unknown; code?: unknown } };
  // Node's fetch says "fetch failed" and puts the reason (ECONNREFUSED ...) in `cause`.
  const cause = e.cause && typeof e.cause.message === 'string' ? ` (${e.cause.message})` : '';
  return `${typeof e.message === 'string' ? e.message : String(err)}${cause}`;
}
