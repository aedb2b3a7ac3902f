/**
 * The server's one logger: every line it writes is a pino JSON line with `pid` and `hostname`, at the
 * level `LOG_LEVEL` asks for, and every line about an error carries the error's stable code as `code`
 * (the request-completed line of a 4xx/5xx too), which is what an operator greps and alerts on.
 *
 * Gotchas:
 * - The reply object reaches the `res` serializer, not the body that was sent: the error handlers note
 *   the code per reply (`noteErrorCode`) and the serializer reads it back.
 * - A failed start is logged at `fatal` on stderr through a synchronous destination: the process exits
 *   right after, and an asynchronous one would lose the line.
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';
import type { FastifyReply } from 'fastify';
import { ErrorCodes, RuntimeError } from '../kernel/index.js';

const LEVELS: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

const codes = new WeakMap<object, string>();

/** Remembers the error code a reply answers with, for its request-completed line. */
export function noteErrorCode(reply: FastifyReply, code: string): void {
  codes.set(reply, code);
}

const serializers = {
  res(reply: FastifyReply) {
    const code = codes.get(reply);
    return code === undefined ? { statusCode: reply.statusCode } : { statusCode: reply.statusCode, code };
  },
};

/** `LOG_LEVEL` checked: a typo stops start-up instead of silently logging at another level. */
export function logLevelOf(value: string | undefined): LevelWithSilent {
  const level = (value ?? '').trim() || 'info';
  if (!LEVELS.includes(level)) throw new RuntimeError(ErrorCodes.InvalidOptions, `LOG_LEVEL must be one of ${LEVELS.join(', ')}, not ${JSON.stringify(value)}`);
  return level as LevelWithSilent;
}

/** The server's logger, on stdout (`fd` 1) unless told otherwise. */
export function createLogger(options: { level?: LevelWithSilent; fd?: 1 | 2; sync?: boolean } = {}): Logger {
  return pino({ level: options.level ?? 'info', serializers }, pino.destination({ fd: options.fd ?? 1, sync: options.sync ?? false }));
}

/** The code of any thrown value: a RuntimeError's own, else `Internal`. */
export function codeOf(err: unknown): string {
  return RuntimeError.is(err) ? err.code : ErrorCodes.Internal;
}

/** Logs a failed start as one `fatal` line with the code, synchronously on stderr (the process exits next). */
export function logStartFailure(err: unknown, logLevel: string | undefined): void {
  let level: LevelWithSilent = 'info';
  try {
    level = logLevelOf(logLevel);
  } catch {
    // the bad LOG_LEVEL is the failure being logged
  }
  const log = createLogger({ fd: 2, sync: true, level });
  const code = codeOf(err);
  const message = err instanceof Error ? err.message : String(err);
  // A known failure (DataDirLocked, CorruptLog, InvalidOptions) needs no stack; an unexpected one does.
  if (RuntimeError.is(err)) log.fatal({ code, details: Object.keys(err.details).length > 0 ? err.details : undefined }, `eventide could not start: ${message}`);
  else log.fatal({ code, err }, `eventide could not start: ${message}`);
}
