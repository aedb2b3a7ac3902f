/**
 * The client's one error: `EventideClientError`, carrying the server's stable `code` (the `error` field
 * of every error body, docs/http-api.md "Errors"), the HTTP `status`, the `message`, `retryAfter`
 * (seconds) and every other field of the body as `details`. Failures that never got an HTTP answer
 * (no connection, a timeout, an abort, a body that is not the server's) get a client code and status 0.
 *
 * The codes are typed: `ServerErrorCode` is the catalogue's own union (src/kernel/errors.ts), imported
 * as a type only, so nothing of the server's code ships with the client; a decider adds codes of its
 * own (`InsufficientFunds`), so any other string is a code too.
 *
 * Gotchas:
 * - Check errors with `EventideClientError.is(err, code)`, not `instanceof`: two copies of the client
 *   (a bundle and a dependency, or another realm) have two classes, and the check looks at the shape.
 * - Client codes must never be catalogue codes (test/client/errors.unit.test.ts checks), or a caller
 *   could not tell a server's answer from a dropped connection by its code.
 */
import type { ErrorCode } from '../kernel/index.js';

/** Every code the server itself answers with (its error catalogue). */
export type ServerErrorCode = ErrorCode;

/** Codes of failures with no answer from the server: status 0. */
export const CLIENT_ERROR_CODES = {
  /** The request never got an answer: connection refused or reset, DNS, TLS. */
  NetworkError: 'NetworkError',
  /** The client's own deadline (`timeoutMs`) passed first. A command may still have been applied. */
  Timeout: 'Timeout',
  /** The caller's `AbortSignal` fired (or the feed was closed while a call was waiting). */
  Aborted: 'Aborted',
  /** The answer is not what this server sends (not JSON, or a 2xx without the documented shape): a proxy's page? */
  InvalidResponse: 'InvalidResponse',
  /** The feed closed for a reason reconnecting cannot fix (close code 1009 or 1011, or reconnecting is off). */
  FeedClosed: 'FeedClosed',
} as const;
export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[keyof typeof CLIENT_ERROR_CODES];

/**
 * Any code an `EventideClientError` may carry: the catalogue's, the client's, or a domain code chosen
 * by a decider (any other string; `string & {}` keeps the known ones suggested by editors).
 */
export type EventideErrorCode = ServerErrorCode | ClientErrorCode | (string & {});

const NAME = 'EventideClientError';

export interface EventideClientErrorInit<C extends string> {
  code: C;
  message: string;
  /** HTTP status; 0 when there was no answer. */
  status: number;
  details?: Record<string, unknown>;
  retryAfter?: number | undefined;
  retriable?: boolean;
  cause?: unknown;
}

export class EventideClientError<C extends string = EventideErrorCode> extends Error {
  readonly code: C;
  /** HTTP status of the answer; 0 when there was none (the client codes). */
  readonly status: number;
  /** Seconds to wait before sending the same request again (the `Retry-After` header), when the server said. */
  readonly retryAfter: number | undefined;
  /**
   * True when the same request may succeed later: the server said so (`retriable: true`), it asked to
   * slow down (429), or no answer came (a command then may or may not have been applied: send it again
   * with the same `commandId` and it is applied once).
   */
  readonly retriable: boolean;
  /** Every other field of the error body (`expected`/`actual` of a `VersionConflict`, `path` of a schema error, ...). */
  readonly details: Record<string, unknown>;

  constructor(init: EventideClientErrorInit<C>) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = NAME;
    this.code = init.code;
    this.status = init.status;
    this.details = init.details ?? {};
    this.retryAfter = init.retryAfter;
    this.retriable = init.retriable ?? false;
  }

  /** True for an `EventideClientError` (from any copy of the client), with code `code` when given. */
  static is<K extends EventideErrorCode = EventideErrorCode>(u: unknown, code?: K): u is EventideClientError<K> {
    if (typeof u !== 'object' || u === null) return false;
    const e = u as { name?: unknown; code?: unknown; status?: unknown };
    return e.name === NAME && typeof e.code === 'string' && typeof e.status === 'number' && (code === undefined || e.code === code);
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, status: this.status, message: this.message, details: this.details, ...(this.retryAfter !== undefined ? { retryAfter: this.retryAfter } : {}), retriable: this.retriable };
  }
}

/** A failure with no answer from the server (status 0). */
export function clientError(code: ClientErrorCode, message: string, details: Record<string, unknown> = {}, cause?: unknown): EventideClientError {
  const retriable = code === CLIENT_ERROR_CODES.NetworkError || code === CLIENT_ERROR_CODES.Timeout;
  return new EventideClientError({ code, message, status: 0, details, retriable, cause });
}

/** Reads a header of a fetch `Headers` (or anything with the same `get`). */
export interface HeaderSource {
  get(name: string): string | null;
}

/**
 * The error for a non-2xx answer: the body's `error` is the code, `message` the message, every other
 * field a detail. A body that is not the server's error shape (a proxy's HTML page, an empty 502) is
 * `InvalidResponse`, with the status kept.
 */
export function errorFromAnswer(status: number, headers: HeaderSource, text: string): EventideClientError {
  const body = parseObject(text);
  const retryAfter = retryAfterOf(status, headers.get('retry-after'), body);
  if (!body || typeof body.error !== 'string' || body.error === '') {
    return new EventideClientError({
      code: CLIENT_ERROR_CODES.InvalidResponse,
      message: `HTTP ${status} without an eventide error body${text ? `: ${JSON.stringify(text.slice(0, 200))}` : ''}`,
      status,
      retryAfter,
      retriable: status === 429 || status === 502 || status === 503 || status === 504,
    });
  }
  const { error: code, message, ...details } = body;
  return new EventideClientError({
    code,
    message: typeof message === 'string' ? message : code,
    status,
    details,
    retryAfter,
    retriable: details.retriable === true || status === 429,
  });
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `Retry-After` in whole seconds (the only form this server sends; an HTTP-date is not read). A 429 or
 * 503 without the header (a proxy that hides it) falls back to the body's `retryAfter` (seconds) or
 * `retryAfterMs`; other statuses are not worth retrying, whatever their details say.
 */
function retryAfterOf(status: number, header: string | null, body: Record<string, unknown> | undefined): number | undefined {
  if (header !== null && /^\d{1,9}$/.test(header.trim())) return Number(header.trim());
  if (status !== 429 && status !== 503) return undefined;
  if (typeof body?.retryAfter === 'number' && Number.isFinite(body.retryAfter) && body.retryAfter >= 0) return body.retryAfter;
  if (typeof body?.retryAfterMs === 'number' && Number.isFinite(body.retryAfterMs) && body.retryAfterMs >= 0) return Math.ceil(body.retryAfterMs / 1000);
  return undefined;
}
