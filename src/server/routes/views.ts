/**
 * `/views/...`: the read models (projections). Reads may lag the log; `?position=<position>` (the
 * `position` a command answer or a feed message carries: kernel/position.ts) waits until the view
 * includes every event before it: read-your-writes. The older `<partition>:<offset>` is read too.
 * Rebuild runs in the background (202), its progress at `GET /views/:name/rebuild` and on the feed.
 */
import type { FastifyPluginAsync } from 'fastify';
import { ID_PATTERN, parsePosition } from '../../kernel/index.js';
import type { Views } from '../../projections/index.js';
import { logError } from '../error-handlers.js';
import { errorReply } from '../error-status.js';

export interface ViewRoutesOptions {
  views: Views;
  /** The log's partition count: a position has one offset per partition. */
  partitions: number;
}

// A view name is not checked by a pattern: any name that is not a view (`__proto__` included; views
// live in a Map) is simply not found (404), which is what it is, rather than a malformed id (400).
const nameParams = { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1 } } } as const;
const rowParams = { type: 'object', required: ['name', 'id'], properties: { ...nameParams.properties, id: { type: 'string', pattern: ID_PATTERN } } } as const;

export const viewRoutes: FastifyPluginAsync<ViewRoutesOptions> = async (app, { views, partitions }) => {
  app.get<{ Params: { name: string; id: string }; Querystring: { position?: string; timeoutMs?: number } }>(
    '/views/:name/:id',
    {
      schema: {
        params: rowParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { position: { type: 'string', maxLength: partitions * 17 + 8 }, timeoutMs: { type: 'integer', minimum: 0, maximum: 30_000, default: 5000 } },
        },
      },
    },
    async (request) => {
      const { position, timeoutMs } = request.query;
      const r = await views.get(request.params.name, request.params.id, {
        ...(position !== undefined ? { position: parsePosition(position, partitions) } : {}),
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      });
      return { view: request.params.name, id: r.id, row: r.row };
    },
  );

  app.get<{ Params: { name: string }; Querystring: { after?: string; limit: number } }>(
    '/views/:name',
    {
      schema: {
        params: nameParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { after: { type: 'string', pattern: ID_PATTERN }, limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
        },
      },
    },
    async (request) => {
      const { rows, next } = views.list(request.params.name, { limit: request.query.limit, ...(request.query.after !== undefined ? { after: request.query.after } : {}) });
      return { view: request.params.name, rows, ...(next !== undefined ? { next } : {}), lag: views.lag(request.params.name) };
    },
  );

  app.post<{ Params: { name: string } }>('/views/:name/rebuild', { schema: { params: nameParams } }, async (request, reply) => {
    const name = request.params.name;
    const started = views.rebuild(name);
    // An unknown view or a rebuild already running is the client's mistake (answered below, logged at
    // info); only a rebuild that fails on its own is an error worth a stack.
    started.catch((err: unknown) => logError(request.log, err, errorReply(err)));
    // Let an immediate rejection (unknown view, a rebuild already running) answer this request.
    await Promise.race([started, new Promise((resolve) => setImmediate(resolve))]);
    reply.code(202);
    return views.rebuildStatus(name);
  });

  app.get<{ Params: { name: string } }>('/views/:name/rebuild', { schema: { params: nameParams } }, async (request) => views.rebuildStatus(request.params.name));

  app.post<{ Params: { name: string }; Querystring: { repair: boolean; max: number } }>(
    '/views/:name/reconcile',
    {
      schema: {
        params: nameParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { repair: { type: 'boolean', default: false }, max: { type: 'integer', minimum: 1, maximum: 10_000, default: 100 } },
        },
      },
    },
    async (request) => views.reconcile(request.params.name, { repair: request.query.repair, maxMismatches: request.query.max }),
  );
};
