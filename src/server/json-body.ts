/**
 * JSON-only bodies, and what a JSON body may hold.
 *
 * 1. Every mutating request (POST, PUT, PATCH, DELETE) must say `content-type: application/json`, with a
 *    body or without one. A browser sends a cross-site request without asking first (a CORS "simple"
 *    request) only with `text/plain`, `multipart/form-data` or `application/x-www-form-urlencoded`, or
 *    with no body at all; any web page could otherwise rebuild a view or repair one. `application/json`
 *    needs a preflight this server never grants. Other types get 415 `UnsupportedMediaType`.
 *    A route that takes another media type (the video upload) checks its own and says so with
 *    `config: { ownMediaTypes: true }`; its types must not be CORS-safelisted ones either.
 * 2. An empty body with `content-type: application/json` is "no body" (so `curl -X POST -H
 *    'content-type: application/json'` works on routes that take none); a route whose schema wants an
 *    object still refuses it (400 `InvalidCommand`, "body must be object").
 * 3. Every string and key must be well-formed UTF-16: JSON may spell a lone surrogate (`"A\udc00B"`),
 *    which LMDB/msgpack would store as U+FFFD bytes (three per surrogate), so a 200-character limit
 *    would admit 600 and the stored text would not be what was sent. 400 `InvalidCommand` naming the field.
 *
 * Gotchas:
 * - The parser keeps fastify's secure parse with `__proto__`/`constructor.prototype` refused (400).
 * - The surrogate walk is iterative: a 1 MiB body of nested arrays is 500 000 levels deep.
 * - Raw UTF-8 cannot carry a lone surrogate (Node decodes invalid bytes to U+FFFD), only a `\uD8xx`..
 *   `\uDFxx` escape can, so the walk runs only when the text has one: most bodies pay one regex test.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ErrorCodes, RuntimeError } from '../kernel/index.js';

/** Route `config` of a route that checks its request's media type itself. */
export interface OwnMediaTypesConfig {
  ownMediaTypes?: boolean;
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** `String.prototype.isWellFormed` (Node 20; the ES2024 lib typing is not in this tsconfig's ES2023). */
const wellFormed = (s: string): boolean => (s as string & { isWellFormed(): boolean }).isWellFormed();
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;
const MAX_PATH = 200;

/** The media type of a Content-Type header, lower-cased, without parameters. */
export function mediaTypeOf(header: string | undefined): string | undefined {
  const t = header?.split(';', 1)[0]?.trim().toLowerCase();
  return t ? t : undefined;
}

/** Throws 415 for a mutating request on a matched route that is not `application/json` (see the header). */
export function checkJsonOnly(request: FastifyRequest): void {
  if (!MUTATING.has(request.method) || request.is404) return;
  if ((request.routeOptions.config as OwnMediaTypesConfig | undefined)?.ownMediaTypes === true) return;
  const type = mediaTypeOf(request.headers['content-type']);
  if (type === 'application/json') return;
  throw new RuntimeError(
    ErrorCodes.UnsupportedMediaType,
    type === undefined
      ? `${request.method} requests must carry content-type: application/json, even without a body (e.g. -H 'content-type: application/json' -d '{}')`
      : `send the body as application/json, not ${JSON.stringify(type.slice(0, 80))}`,
    type === undefined ? {} : { contentType: type.slice(0, 80) },
  );
}

/** Replaces fastify's JSON parser on `app` with the same secure parse plus rules 2 and 3 above. */
export function useStrictJsonParser(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    if (text.length === 0) return done(null, undefined);
    parse(request, text, (err, value) => {
      if (err) return done(err, undefined);
      const bad = SURROGATE_ESCAPE.test(text) ? illFormedPath(value) : undefined;
      if (bad === undefined) return done(null, value);
      // A path into a deeply nested body can be long: the answer and the log line keep its start.
      const path = bad.path.length > MAX_PATH ? `${bad.path.slice(0, MAX_PATH)}...` : bad.path;
      done(new RuntimeError(ErrorCodes.InvalidCommand, `body${path} ${bad.key ? 'has a key that is' : 'is'} not well-formed Unicode (a lone UTF-16 surrogate such as \\udc00)`, { path }), undefined);
    });
  });
}

/**
 * The JSON pointer of the first string (or key) that is not well-formed UTF-16, or undefined.
 * `key: true` when it is a key of the object at `path`.
 */
export function illFormedPath(value: unknown): { path: string; key: boolean } | undefined {
  const stack: Array<{ v: unknown; path: string }> = [{ v: value, path: '' }];
  while (stack.length > 0) {
    const { v, path } = stack.pop()!;
    if (typeof v === 'string') {
      if (!wellFormed(v)) return { path, key: false };
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], path: `${path}/${i}` });
    } else if (typeof v === 'object' && v !== null) {
      const entries = Object.entries(v);
      for (const [k] of entries) if (!wellFormed(k)) return { path, key: true };
      for (let i = entries.length - 1; i >= 0; i--) {
        const [k, child] = entries[i]!;
        stack.push({ v: child, path: `${path}/${k.replaceAll('~', '~0').replaceAll('/', '~1')}` });
      }
    }
  }
  return undefined;
}
