/**
 * `POST /admin/streams/:type/:id/delete` (`{ hard?, commandId?, expectedVersion? }`) and
 * `POST /admin/streams/:type/:id/undelete` (`{ commandId?, expectedVersion? }`): stream deletion
 * (docs/data-lifecycle.md), through the stream's owner like a command, recorded in the audit stream
 * with the token's name. Admin scope (the default of a mutating route: scopes.ts).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Runtime } from '../../runtime/index.js';
import { errorResponses, idSchema } from '../api-schemas.js';
import { principalOf } from '../security/index.js';

const params = {
  type: 'object',
  required: ['type', 'id'],
  properties: { type: { type: 'string', minLength: 1, maxLength: 64, description: 'An aggregate type of this server' }, id: { ...idSchema, description: 'The aggregate id' } },
} as const;
const common = {
  commandId: { ...idSchema, description: 'Idempotency of the operation, as a command\'s' },
  expectedVersion: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: '409 `VersionConflict` unless the stream is at this version' },
} as const;
const reply = {
  description: 'Done, durable and recorded (`changed: false`: it was already so, nothing appended)',
  type: 'object',
  required: ['id', 'type', 'version', 'changed'],
  additionalProperties: false,
  properties: { id: { type: 'string' }, type: { type: 'string' }, version: { type: 'integer', minimum: 1 }, changed: { type: 'boolean' }, deleted: { enum: ['soft', 'hard'] } },
} as const;

interface Body {
  hard?: boolean;
  commandId?: string;
  expectedVersion?: number;
}

export const streamAdminRoutes: FastifyPluginAsync<{ runtime: Runtime }> = async (app, { runtime }) => {
  app.post<{ Params: { type: string; id: string }; Body: Body | null }>(
    '/admin/streams/:type/:id/delete',
    {
      schema: {
        summary: 'Delete a stream: soft (reads say not found; undelete or a new command brings it back) or hard (a tombstone, for good)',
        params,
        body: { type: ['object', 'null'], additionalProperties: false, properties: { hard: { type: 'boolean', default: false, description: 'A tombstone: every later command and read is 410 `StreamDeleted`' }, ...common } },
        response: {
          200: reply,
          ...errorResponses({
            400: '`InvalidCommand`, `InvalidId`',
            404: '`UnknownAggregateType`, `StreamNotFound` (no events)',
            409: '`VersionConflict`',
            410: '`StreamDeleted`: tombstoned already (a soft delete of it)',
            503: '`Overloaded`, `StorageFailed`, `WorkerCrashed` (retry with the same `commandId`)',
          }),
        },
      },
    },
    async (request) => {
      const { hard = false, commandId, expectedVersion } = request.body ?? {};
      const r = await runtime.deleteStream(request.params.type, request.params.id, {
        hard,
        by: principalOf(request)?.name ?? null,
        ...(commandId !== undefined ? { commandId } : {}),
        ...(expectedVersion !== undefined ? { expectedVersion } : {}),
      });
      return { ...r, deleted: hard ? 'hard' : 'soft' };
    },
  );

  app.post<{ Params: { type: string; id: string }; Body: Body | null }>(
    '/admin/streams/:type/:id/undelete',
    {
      schema: {
        summary: 'Undo a soft deletion: the stream reads again as it was',
        params,
        body: { type: ['object', 'null'], additionalProperties: false, properties: common },
        response: {
          200: reply,
          ...errorResponses({
            400: '`InvalidCommand`, `InvalidId`',
            404: '`UnknownAggregateType`, `StreamNotFound` (no events)',
            409: '`StreamNotDeleted` (never deleted, or re-created by a command since), `VersionConflict`',
            410: '`StreamDeleted`: tombstoned',
            503: '`Overloaded`, `StorageFailed`, `WorkerCrashed` (retry with the same `commandId`)',
          }),
        },
      },
    },
    async (request) => {
      const { commandId, expectedVersion } = request.body ?? {};
      return runtime.undeleteStream(request.params.type, request.params.id, {
        by: principalOf(request)?.name ?? null,
        ...(commandId !== undefined ? { commandId } : {}),
        ...(expectedVersion !== undefined ? { expectedVersion } : {}),
      });
    },
  );
};
