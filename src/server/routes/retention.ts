/**
 * `/admin/retention/:type` and `/admin/retention/:type/:id`: the retention settings of every stream of
 * a type, or of one stream (docs/data-lifecycle.md). Admin scope for both methods (scopes.ts): the
 * settings decide which history other clients may read. `PUT` takes `{ settings, commandId? }`
 * (`settings: null` removes them) and answers once the change is durable and recorded in the audit
 * stream; `GET` answers the stored settings and, for a stream, its cut as reads apply it now.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { RetentionSettings } from '../../log/index.js';
import type { RetentionInfo, Runtime } from '../../runtime/index.js';
import { errorResponses, idSchema } from '../api-schemas.js';
import { principalOf } from '../security/index.js';

const positive = { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER } as const;
const typeSettings = {
  maxAge: { ...positive, description: 'Events older than this many ms are gone for reads' },
  maxCount: { ...positive, description: 'Only the newest maxCount events of each stream are readable' },
} as const;
const streamSettings = { ...typeSettings, truncateBefore: { ...positive, description: 'Events before this version are gone for reads (at most the stream\'s version + 1)' } } as const;
const settingsOf = (properties: typeof typeSettings | typeof streamSettings) => ({ type: ['object', 'null'], additionalProperties: false, properties }) as const;

const typeParams = { type: 'object', required: ['type'], properties: { type: { type: 'string', minLength: 1, maxLength: 64, description: 'An aggregate type of this server' } } } as const;
const streamParams = { type: 'object', required: ['type', 'id'], properties: { ...typeParams.properties, id: { ...idSchema, description: 'The aggregate id' } } } as const;
const body = (properties: typeof typeSettings | typeof streamSettings) =>
  ({
    type: 'object',
    required: ['settings'],
    additionalProperties: false,
    properties: {
      settings: { ...settingsOf(properties), description: 'The new settings (they replace the stored ones as a whole); null removes them' },
      commandId: { ...idSchema, description: 'The audit record\'s command id: a retry with the same one records once (default: derived from the change)' },
    },
  }) as const;

const reply = {
  description: 'The stored settings (null: none) and, for a stream, what reads apply now',
  type: 'object',
  required: ['aggregateType', 'settings'],
  additionalProperties: false,
  properties: {
    aggregateType: { type: 'string' },
    id: { type: 'string' },
    settings: settingsOf(streamSettings),
    stream: {
      type: 'object',
      required: ['effective', 'source', 'head', 'firstVersion'],
      additionalProperties: false,
      properties: {
        effective: settingsOf(streamSettings),
        source: { enum: ['stream', 'type', 'none'], description: 'Whose settings apply: the stream\'s own, its type\'s, or none' },
        head: { type: 'integer', minimum: 0, description: 'The stream\'s version' },
        firstVersion: { type: 'integer', minimum: 1, description: 'The first version reads may show (head + 1: none)' },
      },
    },
    changed: { type: 'boolean', description: 'PUT: false when the settings were already these (nothing written or recorded)' },
  },
} as const;
const readErrors = { 400: '`InvalidId`', 404: '`UnknownAggregateType`', 501: '`NotImplemented`: cluster mode' };
const writeErrors = {
  400: '`InvalidCommand` (a setting that is not a positive integer, an unknown one), `InvalidQuery` (`truncateBefore` beyond the stream\'s version + 1: `head`), `InvalidId`',
  404: '`UnknownAggregateType`',
  501: '`NotImplemented`: cluster mode',
  503: '`StorageFailed`',
};

type Info = RetentionInfo & { changed?: boolean };

export const retentionRoutes: FastifyPluginAsync<{ runtime: Runtime }> = async (app, { runtime }) => {
  const put = async (target: { aggregateType: string; id?: string }, b: { settings: RetentionSettings | null; commandId?: string }, by: string | null): Promise<Info> =>
    runtime.setRetention(target, b.settings, { by, ...(b.commandId !== undefined ? { commandId: b.commandId } : {}) });

  app.get<{ Params: { type: string } }>(
    '/admin/retention/:type',
    { schema: { summary: 'The retention settings of every stream of a type', params: typeParams, response: { 200: reply, ...errorResponses(readErrors) } } },
    async (request) => runtime.retention({ aggregateType: request.params.type }),
  );
  app.put<{ Params: { type: string }; Body: { settings: RetentionSettings | null; commandId?: string } }>(
    '/admin/retention/:type',
    { schema: { summary: 'Set (or remove) the retention settings of every stream of a type', params: typeParams, body: body(typeSettings), response: { 200: reply, ...errorResponses(writeErrors) } } },
    async (request) => put({ aggregateType: request.params.type }, request.body, principalOf(request)?.name ?? null),
  );
  app.get<{ Params: { type: string; id: string } }>(
    '/admin/retention/:type/:id',
    { schema: { summary: 'The retention settings of one stream, and its cut as reads apply it now', params: streamParams, response: { 200: reply, ...errorResponses(readErrors) } } },
    async (request) => runtime.retention({ aggregateType: request.params.type, id: request.params.id }),
  );
  app.put<{ Params: { type: string; id: string }; Body: { settings: RetentionSettings | null; commandId?: string } }>(
    '/admin/retention/:type/:id',
    { schema: { summary: 'Set (or remove) the retention settings of one stream', params: streamParams, body: body(streamSettings), response: { 200: reply, ...errorResponses(writeErrors) } } },
    async (request) => put({ aggregateType: request.params.type, id: request.params.id }, request.body, principalOf(request)?.name ?? null),
  );
};
