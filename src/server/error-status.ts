/**
 * The ONE table that turns an error code into an HTTP status, and the one function that turns any thrown
 * value into the JSON error body `{ error: "<Code>", message, ...details }`.
 *
 * Kernel codes (`ErrorCodes`) are mapped one by one; domain rejections (`DomainError`) are mapped by their
 * `kind` (`conflict` -> 409, `rule` -> 422), so a decider can add codes without touching this file.
 * `test/server/error-status.unit.test.ts` checks that every code has a status and a line in docs/http-api.md.
 *
 * Gotchas:
 * - Errors are matched by `code`, never `instanceof`: they are rebuilt after crossing `postMessage`.
 */
import { DomainError, ErrorCodes, RuntimeError, type ErrorCode } from '../kernel/index.js';
import { asLogError } from '../log/index.js';

/** Every code the server can answer with, and its status. `satisfies` makes a missing kernel code a type error. */
export const ERROR_STATUS = {
  // 4xx: the request is wrong; sending it again unchanged fails again.
  BadRequest: 400,
  InvalidId: 400,
  InvalidCommand: 400,
  InvalidQuery: 400,
  UnknownCommandType: 400,
  Unauthorized: 401,
  Forbidden: 403,
  UnknownAggregateType: 404,
  StreamNotFound: 404,
  NotFound: 404,
  Gone: 410,
  StreamDeleted: 410,
  MethodNotAllowed: 405,
  RequestTimeout: 408,
  VersionConflict: 409,
  RebuildRunning: 409,
  IdempotencyKeyReused: 409,
  AlreadyExists: 409,
  PreconditionFailed: 412,
  PayloadTooLarge: 413,
  UriTooLong: 414,
  UnsupportedMediaType: 415,
  RangeNotSatisfiable: 416,
  HostNotAllowed: 421,
  UpgradeRequired: 426,
  RateLimited: 429,
  QuotaExceeded: 429,
  HeadersTooLarge: 431,
  // 5xx: the server cannot answer now. 503s are worth retrying (Retry-After when known).
  Overloaded: 503,
  WorkerCrashed: 503,
  RuntimeClosed: 503,
  StorageFailed: 503,
  Unavailable: 503,
  ViewLagging: 503,
  // Damage and fencing stop writes (a partition, or the whole log) until an operator acts: 503 with the
  // code that says why, never a bare 500 Internal.
  CorruptRecord: 503,
  CorruptLog: 503,
  Fenced: 503,
  // Cluster mode, a handover: never a wrong answer, a retry (Retry-After) that finds the new owner.
  NotOwner: 503,
  InvalidOptions: 500,
  DataDirLocked: 500,
  ProjectionFailed: 500,
  PartitionMismatch: 500,
  DeciderFailed: 500,
  Internal: 500,
  NotImplemented: 501,
} as const satisfies Record<ErrorCode, number>;

export const DOMAIN_STATUS = { conflict: 409, rule: 422 } as const;

export interface ErrorReply {
  status: number;
  body: { error: string; message: string; [detail: string]: unknown };
  headers: Record<string, string>;
}

/** The HTTP status for a code; unknown codes are server bugs (500). */
export function statusOfCode(code: string): number {
  return Object.hasOwn(ERROR_STATUS, code) ? ERROR_STATUS[code as keyof typeof ERROR_STATUS] : 500;
}

/** Fastify's own error codes (body parsing), translated to ours with a message that says what to do. */
const FASTIFY_CODES: Record<string, { code: string; message: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { code: ErrorCodes.PayloadTooLarge, message: 'the request body is larger than the limit' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: ErrorCodes.UnsupportedMediaType, message: 'send the body as application/json' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: ErrorCodes.InvalidCommand, message: 'the body does not match its Content-Length' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: ErrorCodes.InvalidCommand, message: 'the body is empty but the content-type is application/json' },
  FST_ERR_CTP_INVALID_JSON_BODY: {
    code: ErrorCodes.InvalidCommand,
    message: 'the body is not valid JSON, or it has a __proto__ or constructor.prototype key (refused: prototype pollution)',
  },
  // Raised by the router before any route runs (they reach us through fastify's `frameworkErrors`).
  FST_ERR_BAD_URL: { code: ErrorCodes.BadRequest, message: 'the URL is not valid (a malformed percent-encoding?)' },
  FST_ERR_MAX_PARAM_LENGTH: { code: ErrorCodes.UriTooLong, message: 'a path segment of the URL is longer than the server accepts' },
};

/** Builds the reply for anything thrown by a route, a hook or fastify itself (parsers, schema validation). */
export function errorReply(err: unknown): ErrorReply {
  const headers: Record<string, string> = {};
  if (DomainError.isDomain(err)) {
    return { status: DOMAIN_STATUS[err.kind], body: withDetails(err.code, err.message, err.details), headers };
  }
  if (RuntimeError.is(err) && typeof (err as { details?: unknown }).details === 'object') {
    const e = err as RuntimeError;
    const status = statusOfCode(e.code);
    const body = withDetails(e.code, status === 500 && e.code === ErrorCodes.Internal ? 'internal error' : clientSafe(e.message), e.details);
    if (status === 503 || status === 429) {
      // One value in both places: the header's whole seconds, and the same in ms in the body.
      const seconds = retryAfterSeconds(e.details);
      headers['retry-after'] = String(seconds);
      if (typeof e.details.retryAfterMs === 'number') body.retryAfterMs = seconds * 1000;
    }
    // RFC 6750: a 401 names the scheme; `invalid_token` tells a client its token was refused, not missing.
    if (status === 401) headers['www-authenticate'] = e.details.reason === 'invalid_token' ? 'Bearer realm="eventide", error="invalid_token"' : 'Bearer realm="eventide"';
    if (status === 408) headers.connection = 'close';
    // RFC 9110 15.5.17: a 416 says how long the representation is.
    if (status === 416 && typeof e.details.size === 'number') headers['content-range'] = `bytes */${e.details.size}`;
    if (e.retriable) body.retriable = true;
    return { status, body, headers };
  }
  const damage = asLogError(err, 'the log');
  if (damage !== err) return errorReply(damage);
  const f = err as { code?: unknown; statusCode?: unknown; message?: unknown; validation?: unknown; validationContext?: unknown } | null;
  if (Array.isArray(f?.validation)) return validationReply(f.validation as SchemaError[], String(f.validationContext ?? 'body'));
  const fcode = typeof f?.code === 'string' ? f.code : undefined;
  const mapped = fcode ? FASTIFY_CODES[fcode] : undefined;
  if (mapped) return { status: statusOfCode(mapped.code), body: { error: mapped.code, message: mapped.message }, headers };
  // Other request-level errors fastify raises itself (e.g. FST_ERR_BAD_URL): keep their 4xx status.
  const byStatus: Record<number, string> = { 400: ErrorCodes.InvalidQuery, 404: ErrorCodes.NotFound, 405: ErrorCodes.MethodNotAllowed, 413: ErrorCodes.PayloadTooLarge, 415: ErrorCodes.UnsupportedMediaType };
  const generic = typeof f?.statusCode === 'number' ? byStatus[f.statusCode] : undefined;
  if (generic) return { status: statusOfCode(generic), body: { error: generic, message: String(f?.message ?? generic).slice(0, 300) }, headers };
  return { status: 500, body: { error: ErrorCodes.Internal, message: 'internal error' }, headers };
}

function withDetails(code: string, message: string, details: Record<string, unknown> | undefined): ErrorReply['body'] {
  // Details first: a detail named `error` or `message` must never replace the code or the text.
  return { ...(details ?? {}), error: code, message };
}

/**
 * What of an error message may reach a client: never a stack trace, never a source file's path (a
 * worker's crash or a decider's bug may put either into a message). The data dir's mount point in a
 * `StorageFailed` message is not a source path and stays: operators need it.
 */
export function clientSafe(message: string): string {
  const firstFrame = message.search(/\n\s+at /);
  const head = firstFrame >= 0 ? message.slice(0, firstFrame) : message;
  return head
    .replace(/file:\/\/\S+/g, '<source>')
    .replace(/(?:\/[\w.@+-]+)+\.(?:[cm]?[jt]s|node)(?::\d+(?::\d+)?)?/g, '<source>')
    .slice(0, 1000);
}

function retryAfterSeconds(details: Record<string, unknown>): number {
  // A `retryAfter` detail (whole seconds, as the body shows it) wins, so header and body always agree.
  if (typeof details.retryAfter === 'number' && Number.isSafeInteger(details.retryAfter) && details.retryAfter >= 1) return details.retryAfter;
  const ms = typeof details.retryAfterMs === 'number' && Number.isFinite(details.retryAfterMs) ? details.retryAfterMs : 1000;
  return Math.max(1, Math.ceil(ms / 1000));
}

export interface SchemaError {
  instancePath?: string;
  message?: string;
  keyword?: string;
  params?: Record<string, unknown>;
}

/**
 * A route schema rejected the request: which code depends on the part that was wrong. The answer names
 * the offending field both in `path` (a JSON pointer: `/data/amount`) and in the message
 * (`body/data/amount must be integer`), including a missing or an unexpected one, which Ajv itself
 * reports on the parent object.
 */
export function validationReply(errors: readonly SchemaError[], part: string): ErrorReply {
  const first = errors[0] ?? {};
  const named = first.params?.missingProperty ?? first.params?.additionalProperty;
  const path = `${first.instancePath ?? ''}${typeof named === 'string' ? `/${named.slice(0, 64)}` : ''}`;
  const what =
    first.keyword === 'required'
      ? `${part}${path} is required`
      : first.keyword === 'additionalProperties'
        ? `${part}${path} is not a known field`
        : `${part}${path} ${first.message ?? 'is invalid'}`;
  // A path parameter is an id (`:id`), or a number or name the route reads (`:height`, `:partition`).
  if (part === 'params' && path === '/id') {
    return { status: 400, body: { path, error: ErrorCodes.InvalidId, message: `id must match [A-Za-z0-9_.:-]{1,128} (${what})` }, headers: {} };
  }
  const code = part === 'body' ? ErrorCodes.InvalidCommand : ErrorCodes.InvalidQuery;
  return { status: 400, body: { path, error: code, message: what }, headers: {} };
}
