/**
 * The server's OpenAPI 3.1 description, made by `@fastify/swagger` from the routes' own schemas, and
 * `GET /openapi.json`, which serves it.
 *
 * `registerOpenApi(app)` runs before any route (the plugin collects routes as they are added, which costs
 * nothing per request: it adds no request hook). The document is built once, on the first request for it
 * (tens of ms on this machine: not paid by every server a test or an embedding program starts), and its
 * JSON text is kept and sent as is from then on. test/server/openapi.int.test.ts builds it from the full
 * server, so a schema the generator cannot read fails there rather than in front of a client.
 *
 * What the generator does not know is added here, from the same tables the server uses:
 * - who may call an operation (security/scopes.ts): public routes say `security: []`; the others name
 *   the bearer scheme and carry `x-required-scope` (OpenAPI has no scopes for bearer tokens) and 401/403;
 * - every operation's other errors (`default`: the `ErrorBody` shape: 405, 421, 429, 503 can come from any route);
 * - tags by path and an operationId by method and path, for client generators;
 * - a POST that takes no body, or `{}`, has an optional request body.
 *
 * Gotchas:
 * - @fastify/swagger reads its own package.json for `info` unless given one: the name and version here
 *   come from eventide's package.json (found from src/ and from dist/).
 * - Shared schemas keep their `$id` as their component name (`#/components/schemas/ErrorBody`), not the
 *   plugin's default `def-0`, so clients can rely on the names.
 * - HEAD routes (fastify adds one per GET) are left out, as the plugin does by default.
 */
import { existsSync, readFileSync } from 'node:fs';
import fastifySwagger from '@fastify/swagger';
import type { FastifyInstance, FastifySchema } from 'fastify';
import { ErrorCodes, RuntimeError } from '../kernel/index.js';
import { errorRef } from './api-schemas.js';
import { formatScope, requiredAccess } from './security/index.js';

export const OPENAPI_PATH = '/openapi.json';
const OPENAPI_VERSION = '3.1.0';

const DESCRIPTION = [
  'An embedded, actor-based event-sourcing runtime over HTTP: commands, state as of any version or time, history and diffs, read models, videos, and the operator routes.',
  '',
  'Errors are JSON: `{ error, message, ...details }` with a stable `error` code (docs/http-api.md, "Errors").',
  'Authentication: with tokens configured (`TOKENS_FILE`, `EVENTIDE_TOKENS`), every operation without `security: []` needs `Authorization: Bearer <token>`',
  'with the scope its `x-required-scope` names (`read`, `read:<type>`, `write`, `write:<type>`, `admin`; docs/http-api.md, "Security").',
  'With no token configured the server serves loopback clients only, without authentication.',
  'Mutating requests carry `content-type: application/json`, even without a body (the upload takes the video itself).',
].join('\n');

/** eventide's name and version, from its package.json (src/server/ or dist/src/server/ lie below it). */
export function packageInfo(): { name: string; version: string } {
  for (const up of ['../../package.json', '../../../package.json']) {
    const url = new URL(up, import.meta.url);
    if (!existsSync(url)) continue;
    const pkg = JSON.parse(readFileSync(url, 'utf8')) as { name?: unknown; version?: unknown };
    if (typeof pkg.name === 'string' && typeof pkg.version === 'string') return { name: pkg.name, version: pkg.version };
  }
  throw new RuntimeError(ErrorCodes.InvalidOptions, "eventide's package.json was not found next to its sources");
}

type Schema = FastifySchema & { response?: Record<string, unknown>; body?: unknown; [key: string]: unknown };

/** The tag of a route: its first path segment, with the small system routes together. */
function tagOf(url: string): string {
  const first = url.split('/')[1] ?? '';
  if (first === '' || first === 'dashboard') return 'dashboard';
  if (first === 'aggregates' || first === 'views' || first === 'videos' || first === 'admin' || first === 'feed') return first;
  return 'system';
}

/** `GET /views/:name/rebuild` -> `getViewsNameRebuild`. */
function operationIdOf(method: string, url: string): string {
  const words = url.split(/[^A-Za-z0-9]+/).filter(Boolean);
  return method.toLowerCase() + words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
}

/** The scope a route needs, as the docs write it (`write:<type>` for the routes of any aggregate type). */
function scopeOf(method: string, url: string): string | null {
  const access = requiredAccess({ method, route: url, params: {}, query: {} });
  if (access === 'public') return null;
  return url.startsWith('/aggregates/:type/') ? `${access.level}:<type>` : formatScope(access);
}

/** Adds what the routes' schemas cannot say themselves (see the header). */
function documentRoute(method: string, url: string, schema: Schema | undefined): Schema {
  const s: Schema = { ...schema };
  const scope = scopeOf(method, url);
  const response: Record<string, unknown> = { ...s.response };
  if (scope === null) {
    s.security = [];
  } else {
    s['x-required-scope'] = scope;
    response['401'] ??= { description: 'Unauthorized: tokens are configured and the request has none, or an unknown one', ...errorRef };
    response['403'] ??= { description: `Forbidden: the token lacks \`${scope}\` (or a non-loopback client while no token is configured)`, ...errorRef };
  }
  response.default ??= { description: 'Any other error (docs/http-api.md, "Errors")', ...errorRef };
  s.response = response;
  s.tags ??= [tagOf(url)];
  s.operationId ??= operationIdOf(method, url);
  return s;
}

interface Operation {
  requestBody?: { required?: boolean; content?: Record<string, { schema?: { type?: unknown } }> };
}

/** A body schema that admits `null` is one the client may leave out: the plugin marks every body required. */
function optionalBodies(doc: { paths?: Record<string, Record<string, unknown> | undefined> }): void {
  for (const item of Object.values(doc.paths ?? {})) {
    for (const op of Object.values(item ?? {}) as Operation[]) {
      const media = op?.requestBody?.content?.['application/json'];
      const type = media?.schema?.type;
      if (!Array.isArray(type) || !type.includes('null')) continue;
      op.requestBody!.required = false;
      media!.schema!.type = type.filter((t) => t !== 'null').length === 1 ? type.find((t) => t !== 'null') : type.filter((t) => t !== 'null');
    }
  }
}

/** Registers the generator and `GET /openapi.json`. Call before any route is added. */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  const { name, version } = packageInfo();
  await app.register(fastifySwagger, {
    openapi: {
      openapi: OPENAPI_VERSION,
      info: { title: name, version, description: DESCRIPTION },
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', description: 'A token from TOKENS_FILE or EVENTIDE_TOKENS (docs/http-api.md, "Tokens and scopes")' },
        },
      },
      security: [{ bearerAuth: [] }],
      tags: [
        { name: 'aggregates', description: 'Commands, state (now, at a version, at a time), history and diffs, one set of routes per aggregate type' },
        { name: 'views', description: 'Read models: rows, rebuild, reconcile' },
        { name: 'videos', description: 'Uploads, encode status, renditions and thumbnails' },
        { name: 'feed', description: 'The WebSocket event feed' },
        { name: 'admin', description: 'Operator actions on the live log' },
        { name: 'system', description: 'Health, partitions, metrics, this document' },
        { name: 'dashboard', description: 'The live dashboard page and its files' },
      ],
    },
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`),
    },
    transform: ({ schema, url, route }) => {
      const method = Array.isArray(route.method) ? String(route.method[0]) : String(route.method);
      return { schema: documentRoute(method, url, schema as Schema | undefined), url };
    },
    transformObject: (documentObject) => {
      const doc = 'openapiObject' in documentObject ? documentObject.openapiObject : documentObject.swaggerObject;
      optionalBodies(doc as Parameters<typeof optionalBodies>[0]);
      return doc;
    },
  });

  // Built on the first request (the plugin can build it only once the app is ready), then kept as text.
  let document: string | undefined;

  app.get(
    OPENAPI_PATH,
    {
      schema: {
        summary: 'This OpenAPI 3.1 document',
        description: "Made from the routes' own schemas. Needs `read` when tokens are configured, like every GET: it lists the aggregate types and their command schemas.",
        response: { 200: { description: 'The OpenAPI document', type: 'object', required: ['openapi', 'info', 'paths'], properties: { openapi: { type: 'string' } } } },
      },
    },
    (_request, reply) => {
      document ??= JSON.stringify(app.swagger());
      void reply.type('application/json; charset=utf-8');
      return reply.send(document);
    },
  );
}
