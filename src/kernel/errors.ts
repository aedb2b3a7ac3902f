/**
 * The one error model. Every error the runtime raises is a `RuntimeError` with a stable string `code`.
 * Errors cross `postMessage` as plain `{ code, message, details }` and are rebuilt on the other side,
 * so callers check `err.code` (or `RuntimeError.is(err, code)`), never `instanceof`.
 *
 * Gotchas: codes are part of the public contract (HTTP bodies, logs, docs). Renaming one is a breaking
 * change; `test/kernel/errors.unit.test.ts` checks every code is documented and mapped to an HTTP status.
 */

/** Every code the runtime itself raises. Domain deciders add their own codes through `DomainError`. */
export const ErrorCodes = {
  InvalidId: 'InvalidId',
  InvalidCommand: 'InvalidCommand',
  InvalidQuery: 'InvalidQuery',
  InvalidOptions: 'InvalidOptions',
  UnknownAggregateType: 'UnknownAggregateType',
  UnknownCommandType: 'UnknownCommandType',
  StreamNotFound: 'StreamNotFound',
  NotFound: 'NotFound',
  /**
   * The stream has events there, but not any more for reads: they are before its retention cut
   * (`firstVersion` names the first readable one). Hydration of the current state is not affected.
   */
  Gone: 'Gone',
  /** The stream was deleted for good (a tombstone): every command and read of it is refused. */
  StreamDeleted: 'StreamDeleted',
  VersionConflict: 'VersionConflict',
  /** A view rebuild was asked for while one of the same view is still running. */
  RebuildRunning: 'RebuildRunning',
  PayloadTooLarge: 'PayloadTooLarge',
  UnsupportedMediaType: 'UnsupportedMediaType',
  Overloaded: 'Overloaded',
  /** One client has as much work queued as it may (e.g. encode seconds); Retry-After says when to retry. */
  QuotaExceeded: 'QuotaExceeded',
  WorkerCrashed: 'WorkerCrashed',
  RuntimeClosed: 'RuntimeClosed',
  StorageFailed: 'StorageFailed',
  CorruptRecord: 'CorruptRecord',
  /** The log file itself is damaged or missing (LMDB reports corruption, a truncated file, a bad meta page). */
  CorruptLog: 'CorruptLog',
  /** Another process claimed the data dir (a newer owner epoch): this one's writes are refused. */
  Fenced: 'Fenced',
  /**
   * Cluster mode: this node does not serve the partition (another member owns it, or it is changing
   * hands): retry after `retryAfterMs`, through the owner named in `owner` when known.
   */
  NotOwner: 'NotOwner',
  /** A command id sent again with a different command on the same stream. */
  IdempotencyKeyReused: 'IdempotencyKeyReused',
  /** A maintenance target (a backup name, a restore or salvage data dir) that must be new already exists. */
  AlreadyExists: 'AlreadyExists',
  PartitionMismatch: 'PartitionMismatch',
  DataDirLocked: 'DataDirLocked',
  DeciderFailed: 'DeciderFailed',
  ViewLagging: 'ViewLagging',
  ProjectionFailed: 'ProjectionFailed',
  /** No bearer token, or one the server does not know (HTTP 401 with `WWW-Authenticate: Bearer`). */
  Unauthorized: 'Unauthorized',
  /** A valid token without the scope the route needs, or a WebSocket handshake from an Origin that is not allowed. */
  Forbidden: 'Forbidden',
  /** The request (headers, or a body slower than the minimum rate) was not received in time. */
  RequestTimeout: 'RequestTimeout',
  /** The client sent more requests than its rate limit allows: retry after `retryAfter` seconds. */
  RateLimited: 'RateLimited',
  /** A plain HTTP GET on a WebSocket-only route. */
  UpgradeRequired: 'UpgradeRequired',
  /** The server is starting or stopping, or the runtime reports itself unhealthy. */
  Unavailable: 'Unavailable',
  /** The route exists, but not with this method. */
  MethodNotAllowed: 'MethodNotAllowed',
  /** The request is not valid HTTP (a bad request line, a bad URL, an HTTP/1.1 request without Host). */
  BadRequest: 'BadRequest',
  /** The Host header names a host this server does not answer for (DNS rebinding defence). */
  HostNotAllowed: 'HostNotAllowed',
  /** The URL, or one of its path segments, is longer than the server accepts. */
  UriTooLong: 'UriTooLong',
  /** The request's headers are larger than the server accepts. */
  HeadersTooLarge: 'HeadersTooLarge',
  /** A conditional request (`If-Match`, `If-Unmodified-Since`) whose condition does not hold: the file changed. */
  PreconditionFailed: 'PreconditionFailed',
  /** A `Range` that starts past the end of the file (`size` says how long it is). */
  RangeNotSatisfiable: 'RangeNotSatisfiable',
  /** This log cannot do that (e.g. retention settings on the JetStream log of cluster mode). */
  NotImplemented: 'NotImplemented',
  Internal: 'Internal',
} as const;
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/**
 * True for a code of this catalogue. `RuntimeError.is(err)` alone also accepts any Error with a string
 * `code` (Node's `ENOENT`); `RuntimeError.is(err) && isErrorCode(err.code)` accepts only the runtime's own.
 */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ErrorCodes, code);
}

/** How a domain rejection should be read: a state conflict (409) or a broken business rule (422). */
export type DomainErrorKind = 'conflict' | 'rule';

export interface SerializedError {
  code: string;
  message: string;
  details?: Record<string, unknown>;
  domain?: DomainErrorKind;
  retriable?: boolean;
}

export class RuntimeError extends Error {
  readonly code: string;
  readonly details: Record<string, unknown>;
  /** True when the same request may succeed if sent again later (overload, crashed worker). */
  readonly retriable: boolean;

  constructor(code: string, message: string, details: Record<string, unknown> = {}, retriable = false) {
    super(message);
    this.name = 'RuntimeError';
    this.code = code;
    this.details = details;
    this.retriable = retriable;
  }

  /** Works across realms and threads: it checks the shape and the code, not the prototype chain. */
  static is(u: unknown, code?: string): u is RuntimeError {
    if (typeof u !== 'object' || u === null) return false;
    const c = (u as { code?: unknown }).code;
    // Not `instanceof Error`: an error from another realm (vm context, worker) has another Error.
    return typeof c === 'string' && (code === undefined || c === code) && (u instanceof Error || Object.prototype.toString.call(u) === '[object Error]');
  }

  toJSON(): SerializedError {
    const out: SerializedError = { code: this.code, message: this.message };
    if (Object.keys(this.details).length > 0) out.details = this.details;
    if (this.retriable) out.retriable = true;
    return out;
  }
}

/** A rejection decided by domain code: the command broke a rule given the current state. */
export class DomainError extends RuntimeError {
  readonly kind: DomainErrorKind;
  constructor(code: string, message: string, kind: DomainErrorKind = 'rule', details: Record<string, unknown> = {}) {
    super(code, message, details);
    this.name = 'DomainError';
    this.kind = kind;
  }

  static isDomain(u: unknown): u is DomainError {
    return RuntimeError.is(u) && ((u as { kind?: unknown }).kind === 'conflict' || (u as { kind?: unknown }).kind === 'rule');
  }

  override toJSON(): SerializedError {
    return { ...super.toJSON(), domain: this.kind };
  }
}

export function serializeError(err: unknown): SerializedError {
  if (DomainError.isDomain(err)) return err.toJSON();
  if (RuntimeError.is(err)) {
    const r = err as RuntimeError;
    return { code: r.code, message: r.message, ...(Object.keys(r.details ?? {}).length ? { details: r.details } : {}), ...(r.retriable ? { retriable: true } : {}) };
  }
  return { code: ErrorCodes.Internal, message: err instanceof Error ? err.message : String(err) };
}

export function deserializeError(s: SerializedError): RuntimeError {
  if (s.domain) return new DomainError(s.code, s.message, s.domain, s.details ?? {});
  return new RuntimeError(s.code, s.message, s.details ?? {}, s.retriable ?? false);
}

// Constructors for the errors raised in more than one place, so their messages and details stay alike.
export const errors = {
  invalidId: (id: unknown) =>
    new RuntimeError(ErrorCodes.InvalidId, `id must match [A-Za-z0-9_.:-]{1,128}, got ${JSON.stringify(String(id).slice(0, 140))}`, { id: String(id).slice(0, 140) }),
  unknownAggregateType: (type: string) =>
    new RuntimeError(ErrorCodes.UnknownAggregateType, `no aggregate type named ${JSON.stringify(type.slice(0, 64))}`, { type: type.slice(0, 64) }),
  versionConflict: (expected: number, actual: number) =>
    new RuntimeError(ErrorCodes.VersionConflict, `expected version ${expected} but the stream is at ${actual}`, { expected, actual }),
  overloaded: (what: string, retryAfterMs = 1000) =>
    new RuntimeError(ErrorCodes.Overloaded, `${what} is full; retry later`, { retryAfterMs }, true),
  closed: () => new RuntimeError(ErrorCodes.RuntimeClosed, 'the runtime is closed or closing', {}, true),
  streamNotFound: (type: string, id: string) =>
    new RuntimeError(ErrorCodes.StreamNotFound, `no ${type} stream ${JSON.stringify(id)}`, { type, id }),
  streamDeleted: (type: string, id: string) =>
    new RuntimeError(ErrorCodes.StreamDeleted, `${type} stream ${JSON.stringify(id)} was deleted for good (tombstoned): its id cannot be used again`, { type, id }),
  gone: (type: string, id: string, firstVersion: number, head: number) =>
    new RuntimeError(
      ErrorCodes.Gone,
      firstVersion > head
        ? `${type} ${id}: its events up to version ${head} are gone (retention); none is readable`
        : `${type} ${id}: events before version ${firstVersion} are gone (retention); read from version ${firstVersion}`,
      { type, id, firstVersion, head },
    ),
};
