/**
 * `/admin/scavenge`: the scavenge (docs/data-lifecycle.md, "Scavenge"). `POST` runs a pass now, over
 * every type or one type or one stream, and answers what it removed and what it left alone (and why);
 * `GET` answers the last pass's outcome (the background schedule's or an asked one). Admin scope for both
 * (scopes.ts): what a pass removes is gone for good.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Runtime } from '../../runtime/index.js';
import { errorResponses, idSchema } from '../api-schemas.js';
import { principalOf } from '../security/index.js';

const count = { type: 'integer', minimum: 0 } as const;
const report = {
  type: 'object',
  required: ['streams', 'events', 'pages', 'snapshots', 'commands', 'indexOffsets', 'skipped'],
  additionalProperties: false,
  properties: {
    streams: { ...count, description: 'Streams whose prefix was removed (in part or whole)' },
    events: count,
    pages: count,
    snapshots: count,
    commands: { ...count, description: 'Command records of removed events (their ids are no longer recognised)' },
    indexOffsets: { ...count, description: 'Partition offsets whose index was dropped' },
    skipped: {
      type: 'array',
      description: 'What was left alone, and why (a type a view folds whole, a worker plugin with no guard, snapshots off)',
      items: { type: 'object', required: ['reason'], additionalProperties: false, properties: { aggregateType: { type: 'string' }, id: { type: 'string' }, reason: { type: 'string' } } },
    },
  },
} as const;

export const scavengeRoutes: FastifyPluginAsync<{ runtime: Runtime }> = async (app, { runtime }) => {
  app.post<{ Body: { aggregateType?: string; id?: string } | null }>(
    '/admin/scavenge',
    {
      schema: {
        summary: 'Run a scavenge pass now: remove what retention hides, as far as snapshots and read models allow',
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: {
            aggregateType: { type: 'string', minLength: 1, maxLength: 64, description: 'Only this type (default: every type)' },
            id: { ...idSchema, description: 'Only this stream (with aggregateType)' },
          },
        },
        response: { 200: { ...report, description: 'What the pass removed and what it left alone' }, ...errorResponses({ 400: '`InvalidQuery` (an id without its type), `InvalidId`', 404: '`UnknownAggregateType`', 501: '`NotImplemented`: cluster mode', 503: '`StorageFailed`' }) },
      },
    },
    async (request) => {
      const { aggregateType, id } = request.body ?? {};
      return runtime.scavenge({ ...(aggregateType !== undefined ? { aggregateType } : {}), ...(id !== undefined ? { id } : {}), by: principalOf(request)?.name ?? null });
    },
  );
  app.get(
    '/admin/scavenge',
    {
      schema: {
        summary: "The last scavenge pass's outcome (null before the first)",
        response: {
          200: {
            description: 'When the pass started (ms since epoch) and its report, or its error',
            type: ['object', 'null'],
            additionalProperties: false,
            properties: { at: { type: 'integer' }, report, error: { type: 'string' } },
          },
        },
      },
    },
    async () => runtime.lastScavenge,
  );
};
