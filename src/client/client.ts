/**
 * `createClient({ baseUrl, token? })`: the typed HTTP client of an eventide server. Commands, state
 * (current or as of a version or a time), history, diffs, read models, videos, health, the partition
 * map, and the feed (feed.ts). Every method answers the documented JSON (types.ts) or throws an
 * `EventideClientError` whose `code` is the server's (errors.ts). The operator's calls (`/admin/...`)
 * are under `client.admin` (admin.ts).
 *
 * No retries are hidden in here: a failed call is thrown once, with `retriable` and `retryAfter` saying
 * whether and when to send it again. Give commands a `commandId` and retrying them is always safe.
 */
import { AdminApi } from './admin.js';
import { EventideClientError } from './errors.js';
import { FeedSubscription, type FeedEndpoint, type FeedOptions } from './feed.js';
import { Transport, segment as seg, type CallOptions, type TransportOptions } from './http.js';
import type { CommandInput, CommandResult, DiffResult, EventShape, Health, HistoryPage, LoadResult, PartitionsReport } from './types.js';
import { VideosApi } from './videos.js';
import { ViewsApi } from './views.js';

export type ClientOptions = TransportOptions;

/** The optional fields of a command body (docs/http-api.md). */
export interface CommandOptions extends CallOptions {
  /** The stream's version the command expects: else 409 `VersionConflict` (`details.expected`, `details.actual`). */
  expectedVersion?: number | undefined;
  /** An idempotency key: the same id again answers the first result (`duplicate: true`) and writes nothing. */
  commandId?: string | undefined;
  correlationId?: string | undefined;
  causationId?: string | undefined;
}

/** A point in time: a `Date`, epoch ms, or an ISO-8601 string with a zone (`2026-12-01T10:00:00Z`). */
export type TimePoint = Date | number | string;

export interface LoadOptions extends CallOptions {
  /** The state right after this version. */
  version?: number | undefined;
  /** The state as of this time (the newest version committed at or before it). */
  at?: TimePoint | undefined;
}

export interface HistoryOptions extends CallOptions {
  /** The first seq (default 1). */
  from?: number | undefined;
  /** Events per page (1..1000, default 100). */
  limit?: number | undefined;
}

/**
 * A diff point: a version (`0` is before the first event), a time (`{ at }`, or a `Date`), or the
 * server's own text for one (`'3'`, an ISO-8601 time, `'t:<epoch ms>'`).
 */
export type DiffPoint = number | Date | string | { at: TimePoint };

/** The calls of one aggregate type, typed by its state `S`, its commands `C` and its events `E`. */
export interface AggregateClient<S, C extends CommandInput, E extends EventShape> {
  execute(id: string, command: C, options?: CommandOptions): Promise<CommandResult<S, E>>;
  load(id: string, options?: LoadOptions): Promise<LoadResult<S>>;
  history(id: string, options?: HistoryOptions): Promise<HistoryPage<E>>;
  events(id: string, options?: HistoryOptions): AsyncGenerator<HistoryPage<E>['events'][number], void, undefined>;
  diff(id: string, from: DiffPoint, to: DiffPoint, options?: CallOptions): Promise<DiffResult<S, E>>;
}

export function createClient(options: ClientOptions): EventideClient {
  return new EventideClient(options);
}

export class EventideClient {
  readonly #http: Transport;
  readonly views: ViewsApi;
  readonly videos: VideosApi;
  readonly admin: AdminApi;

  constructor(options: ClientOptions) {
    this.#http = new Transport(options);
    this.views = new ViewsApi(this.#http);
    this.videos = new VideosApi(this.#http);
    this.admin = new AdminApi(this.#http);
  }

  /** The server's URL, as given (without a trailing slash). */
  get baseUrl(): string {
    return this.#http.baseUrl;
  }

  /** An absolute URL for a path the server answered with (a rendition's `url`). */
  url(path: string): string {
    return this.#http.url(path);
  }

  /** Sends a command to `type`/`id` (only a decider's public commands are accepted over HTTP). */
  execute<S = unknown, E extends EventShape = EventShape>(type: string, id: string, command: CommandInput, options: CommandOptions = {}): Promise<CommandResult<S, E>> {
    const { expectedVersion, commandId, correlationId, causationId, ...call } = options;
    const json = { type: command.type, ...(command.data !== undefined ? { data: command.data } : {}), ...defined({ expectedVersion, commandId, correlationId, causationId }) };
    return this.#http.json({ method: 'POST', path: `/aggregates/${seg(type)}/${seg(id)}/commands`, json, ...call });
  }

  /** The current state, or the state as of a `version` or a time (`at`): the time machine. */
  load<S = unknown>(type: string, id: string, options: LoadOptions = {}): Promise<LoadResult<S>> {
    const { version, at, ...call } = options;
    return this.#http.json({ method: 'GET', path: `/aggregates/${seg(type)}/${seg(id)}`, query: { version, at: at === undefined ? undefined : timeText(at) }, ...call });
  }

  /** A page of the stream's events, in order; `next` is the `from` of the next page. */
  history<E extends EventShape = EventShape>(type: string, id: string, options: HistoryOptions = {}): Promise<HistoryPage<E>> {
    const { from, limit, ...call } = options;
    return this.#http.json({ method: 'GET', path: `/aggregates/${seg(type)}/${seg(id)}/events`, query: { from, limit }, ...call });
  }

  /** Every event of the stream from `from`, a page (`limit`) at a time. */
  async *events<E extends EventShape = EventShape>(type: string, id: string, options: HistoryOptions = {}): AsyncGenerator<HistoryPage<E>['events'][number], void, undefined> {
    let from = options.from;
    for (;;) {
      const page = await this.history<E>(type, id, { ...options, from });
      yield* page.events;
      if (page.next === undefined) return;
      from = page.next;
    }
  }

  /** The events between two points of the stream and the state at both. */
  diff<S = unknown, E extends EventShape = EventShape>(type: string, id: string, from: DiffPoint, to: DiffPoint, options: CallOptions = {}): Promise<DiffResult<S, E>> {
    return this.#http.json({ method: 'GET', path: `/aggregates/${seg(type)}/${seg(id)}/diff`, query: { from: pointText(from), to: pointText(to) }, ...options });
  }

  /** The calls of one aggregate type, typed: `client.aggregate<AccountState, AccountCommand, AccountEvent>('account')`. */
  aggregate<S = unknown, C extends CommandInput = CommandInput, E extends EventShape = EventShape>(type: string): AggregateClient<S, C, E> {
    return {
      execute: (id, command, options) => this.execute<S, E>(type, id, command, options),
      load: (id, options) => this.load<S>(type, id, options),
      history: (id, options) => this.history<E>(type, id, options),
      events: (id, options) => this.events<E>(type, id, options),
      diff: (id, from, to, options) => this.diff<S, E>(type, id, from, to, options),
    };
  }

  /** 200 `{ status: 'ok' | 'degraded', ... }`; a server that is starting, stopping or unhealthy throws 503 `Unavailable` (`details.status`, `details.reasons`). */
  health(options: CallOptions = {}): Promise<Health> {
    return this.#http.json({ method: 'GET', path: '/health', ...options });
  }

  /** The partition map: each partition's worker, offset, feed lag and views' checkpoints, and the workers' stats. */
  partitions(options: CallOptions = {}): Promise<PartitionsReport> {
    return this.#http.json({ method: 'GET', path: '/partitions', ...options });
  }

  /**
   * The live feed, as an async iterable of batches that reconnects and resumes by itself (feed.ts).
   * `for await (const { events, position } of client.feed({ from: 'start', WebSocket })) ...`
   */
  feed(options: FeedOptions = {}): FeedSubscription {
    return new FeedSubscription(this.#feedEndpoint(), options);
  }

  #feedEndpoint(): FeedEndpoint {
    const http = this.#http;
    return {
      socketUrl: (query) => http.url('/feed', query).replace(/^http/i, 'ws'),
      // Browsers cannot set headers on a WebSocket: the token goes as the subprotocol pair the server reads.
      protocols: http.token !== undefined ? ['eventide.bearer', http.token] : undefined,
      probe: async (query) => {
        try {
          await http.json({ method: 'GET', path: '/feed', query });
          return undefined;
        } catch (err) {
          if (EventideClientError.is(err) && err.code === 'UpgradeRequired') return undefined;
          return EventideClientError.is(err) ? err : undefined;
        }
      },
    };
  }
}

/** A time as the server reads it: epoch ms digits, or ISO-8601. */
function timeText(t: TimePoint): string {
  if (typeof t === 'number') return String(Math.trunc(t));
  if (typeof t === 'string') return t;
  return t.toISOString();
}

/** A diff point as the server reads it: a version, `t:<epoch ms>`, or ISO-8601. */
function pointText(p: DiffPoint): string {
  if (typeof p === 'number') return String(p);
  if (typeof p === 'string') return p;
  const t = p instanceof Date ? p : p.at;
  return typeof t === 'number' ? `t:${Math.trunc(t)}` : timeText(t);
}

function defined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
