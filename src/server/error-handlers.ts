/**
 * Every way an error leaves the server, in the one shape `{ error, message, ...details }`:
 * - `sendError`: errors thrown by routes, hooks, parsers and schemas (fastify's error handler);
 * - `frameworkErrorHandler`: what fastify's router refuses before any route runs (a malformed URL,
 *   a path segment over `maxParamLength`), which fastify would otherwise answer in its own shape;
 * - `clientErrorHandler`: what Node's HTTP parser refuses before fastify sees a request (a bad request
 *   line, headers over the size limit, a request not received in time), which Node would answer with
 *   a bare status line;
 * - `notFoundHandler`: 405 `MethodNotAllowed` with an `Allow` header when the path exists with other
 *   methods, else 404 `NotFound`.
 *
 * Logging follows the status: a client's mistake (4xx) is one `info` line with its `code` and no stack;
 * 503 (overload, stopping) is `warn` without a stack; any other 5xx is `error` with the stack.
 *
 * Gotchas:
 * - `clientErrorHandler` writes raw bytes to the socket: only when no response has started on it
 *   (as Node itself does), and it always closes the connection, since the parser's state is lost.
 * - `X-Content-Type-Options: nosniff` is written here too: these answers bypass the app's onSend hook.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCodes } from '../kernel/index.js';
import { errorReply, statusOfCode, type ErrorReply } from './error-status.js';
import { noteErrorCode } from './logger.js';

export const NOSNIFF = 'nosniff';

/** Logs `err` at the level its status deserves (see the header). */
export function logError(log: FastifyBaseLogger, err: unknown, r: ErrorReply): void {
  if (r.status >= 500 && r.status !== 503) log.error({ code: r.body.error, err }, 'request failed');
  else if (r.status === 503) log.warn({ code: r.body.error }, r.body.message);
  else log.info({ code: r.body.error, status: r.status }, r.body.message);
}

/** Answers `err` in the error shape; `extraHeaders` may add e.g. `connection: close`. */
export function sendError(err: unknown, request: FastifyRequest, reply: FastifyReply, extraHeaders: (r: ErrorReply) => Record<string, string> = () => ({})): void {
  const r = errorReply(err);
  logError(request.log, err, r);
  noteErrorCode(reply, r.body.error);
  void reply.code(r.status).headers(r.headers).headers(extraHeaders(r)).send(r.body);
}

/** fastify's `frameworkErrors` option. */
export function frameworkErrorHandler(err: Error, request: FastifyRequest, reply: FastifyReply): void {
  const r = errorReply(err);
  logError(request.log, err, r);
  noteErrorCode(reply, r.body.error);
  void reply.code(r.status).headers(r.headers).header('x-content-type-options', NOSNIFF).send(r.body);
}

const CLIENT_ERRORS: Record<string, { code: string; message: string }> = {
  ERR_HTTP_REQUEST_TIMEOUT: { code: ErrorCodes.RequestTimeout, message: 'the request was not received in time' },
  HPE_HEADER_OVERFLOW: { code: ErrorCodes.HeadersTooLarge, message: 'the request headers are larger than the server accepts' },
  HPE_CHUNK_EXTENSIONS_OVERFLOW: { code: ErrorCodes.PayloadTooLarge, message: 'the chunk extensions of the body are too large' },
};

/**
 * fastify's `clientErrorHandler` option; fastify calls it with `this` = the app (for its logger). Also
 * fits a plain `http.Server`'s `clientError` event (`main.ts` while starting), where it logs nothing.
 */
export function clientErrorHandler(this: { log?: FastifyBaseLogger } | undefined, err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const known = err.code ? CLIENT_ERRORS[err.code] : undefined;
  const code = known?.code ?? ErrorCodes.BadRequest;
  const message = known?.message ?? 'the request is not valid HTTP';
  const status = statusOfCode(code);
  const log = this?.log;
  if (log && typeof log.info === 'function') log.info({ code, status, reason: err.code }, message);
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && !inFlight?.headersSent) {
    const body = JSON.stringify({ error: code, message });
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
        `x-content-type-options: ${NOSNIFF}\r\nconnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/** The not-found handler: 405 with `Allow` when the path has routes with other methods, else 404. */
export function notFoundHandler(app: FastifyInstance) {
  return (request: FastifyRequest, reply: FastifyReply): void => {
    const path = request.url.split('?', 1)[0] ?? '/';
    const allow = METHODS.filter((m) => m !== request.method && app.findRoute({ method: m, url: path }) !== null);
    if (allow.length > 0) {
      const message = `${request.method} is not allowed on ${path.slice(0, 200)}; allowed: ${allow.join(', ')}`;
      request.log.info({ code: ErrorCodes.MethodNotAllowed, status: 405 }, message);
      noteErrorCode(reply, ErrorCodes.MethodNotAllowed);
      void reply.code(405).header('allow', allow.join(', ')).send({ error: ErrorCodes.MethodNotAllowed, message, allow });
      return;
    }
    noteErrorCode(reply, ErrorCodes.NotFound);
    void reply.code(404).send({ error: ErrorCodes.NotFound, message: `no route ${request.method} ${request.url.slice(0, 200)}` });
  };
}
