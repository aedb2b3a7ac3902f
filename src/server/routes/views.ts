/**
 * `/views/...`: the read models (projections). Reads may lag the log; `?position=<position>` (the
 * `position` a command answer or a feed message carries: kernel/position.ts) waits until the view
 * includes every event before it: read-your-writes. The older `<partition>:<offset>` is read too.
 * Rebuild runs in the background (202), its progress at `GET /views/:name/rebuild` and on the feed.
 */
import type { FastifyPluginAsync } from 'fastify';
import { ID_PATTERN, parsePosition } from '../../kernel/index.js';
import type { Views } from '../../projections/index.js';
import { anyJson, emptyBody, errorResponses } from '../api-schemas.js';
import { logError } from '../error-handlers.js';
import { errorReply } from '../error-status.js';

export interface ViewRoutesOptions {
  views: Views;
  /** The log's partition count: a position has one offset per partition. */
  partitions: number;
}

// A view name is not checked by a pattern: any name that is not a view (`__proto__` included; views
// live in a Map) is simply not found (404), which is what it is, rather than a malformed id (400).
const nameParams = { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1, description: 'A read model (`balances`, `videos`, ...)' } } } as const;
const rowParams = { type: 'object', required: ['name', 'id'], properties: { ...nameParams.properties, id: { type: 'string', pattern: ID_PATTERN } } } as const;

const lag = {
  type: 'array',
  description: 'Per partition: the next offset the view applies, the log head, and the events between',
  items: {
    type: 'object',
    required: ['partition', 'checkpoint', 'head', 'lag'],
    additionalProperties: false,
    properties: { partition: { type: 'integer', minimum: 0 }, checkpoint: { type: 'integer', minimum: 0 }, head: { type: 'integer', minimum: 0 }, lag: { type: 'integer', minimum: 0 } },
  },
} as const;
const rebuildStatus = {
  type: 'object',
  required: ['view', 'state', 'generation', 'progress'],
  additionalProperties: false,
  properties: {
    view: { type: 'string' },
    state: { enum: ['idle', 'building', 'swapped', 'failed'] },
    generation: { type: 'integer', minimum: 0 },
    progress: { type: 'number', minimum: 0, maximum: 1 },
    startedAt: { type: 'integer', description: 'epoch ms' },
    finishedAt: { type: 'integer', description: 'epoch ms' },
    error: { type: 'string' },
  },
} as const;
const reconcileReport = {
  description: 'What a replay of the log found against the live view',
  type: 'object',
  required: ['checked', 'drift', 'mismatches', 'repaired', 'damaged'],
  additionalProperties: false,
  properties: {
    checked: { type: 'integer', minimum: 0 },
    drift: { type: 'integer', minimum: 0 },
    mismatches: { type: 'array', items: { type: 'object', required: ['id'], additionalProperties: false, properties: { id: { type: 'string' }, view: anyJson, truth: anyJson } } },
    repaired: { type: 'integer', minimum: 0 },
    damaged: {
      type: 'array',
      description: 'Partitions whose log could not be read (not checked)',
      items: { type: 'object', required: ['partition', 'code', 'message'], additionalProperties: false, properties: { partition: { type: 'integer' }, code: { type: 'string' }, message: { type: 'string' } } },
    },
  },
} as const;
const notFound = errorResponses({ 404: '`NotFound`: no such view' });

export const viewRoutes: FastifyPluginAsync<ViewRoutesOptions> = async (app, { views, partitions }) => {
  app.get<{ Params: { name: string; id: string }; Querystring: { position?: string; timeoutMs?: number } }>(
    '/views/:name/:id',
    {
      schema: {
        summary: 'One row of a read model',
        params: rowParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            position: {
              type: 'string',
              maxLength: partitions * 17 + 8,
              description: "A log position (a command answer's or a feed message's; also the older `<partition>:<offset>`): wait until the view has applied every event before it (read-your-writes)",
            },
            timeoutMs: { type: 'integer', minimum: 0, maximum: 30_000, default: 5000, description: 'How long to wait for `position`' },
          },
        },
        response: {
          200: { description: 'The row', type: 'object', required: ['view', 'id', 'row'], additionalProperties: false, properties: { view: { type: 'string' }, id: { type: 'string' }, row: anyJson } },
          ...errorResponses({ 400: '`InvalidQuery` (a bad position), `InvalidId`', 404: '`NotFound`: no such view or row', 503: '`ViewLagging`: not caught up with `position` within `timeoutMs`' }),
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
        summary: 'A page of rows of a read model, in id order',
        params: nameParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { after: { type: 'string', pattern: ID_PATTERN, description: 'The `next` of the previous page' }, limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
        },
        response: {
          200: {
            description: "Rows, with the view's lag",
            type: 'object',
            required: ['view', 'rows', 'lag'],
            additionalProperties: false,
            properties: {
              view: { type: 'string' },
              rows: { type: 'array', items: { type: 'object', required: ['id', 'row'], additionalProperties: false, properties: { id: { type: 'string' }, row: anyJson } } },
              next: { type: 'string', description: 'The `after` of the next page, when there is one' },
              lag,
            },
          },
          ...errorResponses({ 400: '`InvalidQuery`', 404: '`NotFound`: no such view' }),
        },
      },
    },
    async (request) => {
      const { rows, next } = views.list(request.params.name, { limit: request.query.limit, ...(request.query.after !== undefined ? { after: request.query.after } : {}) });
      return { view: request.params.name, rows, ...(next !== undefined ? { next } : {}), lag: views.lag(request.params.name) };
    },
  );

  app.post<{ Params: { name: string } }>(
    '/views/:name/rebuild',
    {
      schema: {
        summary: 'Rebuild a view from the log into a fresh generation, then swap',
        description: 'Runs in the background; the old generation serves meanwhile. Progress: `GET /views/:name/rebuild` and the feed.',
        params: nameParams,
        body: emptyBody,
        response: { 202: { description: 'Started (or done already: `swapped`)', ...rebuildStatus }, ...notFound, ...errorResponses({ 409: '`RebuildRunning`: a rebuild of this view is running' }) },
      },
    },
    async (request, reply) => {
      const name = request.params.name;
      const started = views.rebuild(name);
      // An unknown view or a rebuild already running is the client's mistake (answered below, logged at
      // info); only a rebuild that fails on its own is an error worth a stack.
      started.catch((err: unknown) => logError(request.log, err, errorReply(err)));
      // Let an immediate rejection (unknown view, a rebuild already running) answer this request.
      await Promise.race([started, new Promise((resolve) => setImmediate(resolve))]);
      reply.code(202);
      return views.rebuildStatus(name);
    },
  );

  app.get<{ Params: { name: string } }>(
    '/views/:name/rebuild',
    { schema: { summary: "A view's rebuild progress", params: nameParams, response: { 200: { description: 'The last rebuild, or `idle`', ...rebuildStatus }, ...notFound } } },
    async (request) => views.rebuildStatus(request.params.name),
  );

  app.post<{ Params: { name: string }; Querystring: { repair: boolean; max: number } }>(
    '/views/:name/reconcile',
    {
      schema: {
        summary: 'Replay the log and compare it with the live view (and repair it)',
        params: nameParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            repair: { type: 'boolean', default: false, description: 'Write the replayed rows over the drifted ones' },
            max: { type: 'integer', minimum: 1, maximum: 10_000, default: 100, description: 'Mismatches listed at most' },
          },
        },
        body: emptyBody,
        response: { 200: reconcileReport, ...errorResponses({ 400: '`InvalidQuery`' }), ...notFound },
      },
    },
    async (request) => views.reconcile(request.params.name, { repair: request.query.repair, maxMismatches: request.query.max }),
  );
};
