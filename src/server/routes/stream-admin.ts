/**
 * `POST /admin/streams/:type/:id/delete` (`{ hard?, commandId?, expectedVersion? }`) and
 * `POST /admin/streams/:type/:id/undelete` (`{ commandId?, expectedVersion? }`): stream deletion
 * (docs/data-lifecycle.md), through the stream's owner like a command, recorded in the audit stream
 * with the token's name. Admin scope (the default of a mutating route: scopes.ts).
 *
 * Cluster mode: a deletion is decided by the stream's owner, like a command. A server that does not
 * serve the stream's partition forwards it to the owner (cluster-routing.ts), after its own auth hooks
 * passed it, with the asker's name; the owner's answer comes back unchanged, `x-eventide-forwarded-to`
 * naming it.
 */
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { Runtime } from '../../runtime/index.js';
import { errorResponses, idSchema } from '../api-schemas.js';
import { FORWARDED_TO_HEADER, type ClusterRouting } from '../cluster-routing.js';
import { principalOf } from '../security/index.js';
import { streamLifecycle, type StreamLifecycleReply, type StreamLifecycleRequest } from '../stream-lifecycle.js';

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

const clusterErrors = '; cluster mode: `NotOwner` (the partition, or the audit stream\'s, is changing hands: retry with the same `commandId` after `Retry-After`), `Unavailable` with `outcome: "unknown"` (the owner did not answer a forwarded deletion in time: retry with the same `commandId`)';

export interface StreamAdminRoutesOptions {
  runtime: Runtime;
  /** Cluster mode: a deletion of a stream another member owns goes to that member (cluster-routing.ts). */
  routing?: ClusterRouting | undefined;
}

export const streamAdminRoutes: FastifyPluginAsync<StreamAdminRoutesOptions> = async (app, { runtime, routing }) => {
  /** Here, or (cluster mode) on the stream's owner when this server does not serve it. */
  const run = async (type: string, id: string, r: StreamLifecycleRequest, reply: FastifyReply): Promise<StreamLifecycleReply> => {
    if (!routing) return streamLifecycle(runtime, type, id, r);
    return streamLifecycle(runtime, type, id, r).catch(async (refusal: unknown) => {
      const f = await routing.lifecycle(refusal, type, id, r);
      void reply.header(FORWARDED_TO_HEADER, f.owner);
      return f.body;
    });
  };

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
            503: `\`Overloaded\`, \`StorageFailed\`, \`WorkerCrashed\` (retry with the same \`commandId\`)${clusterErrors}`,
          }),
        },
      },
    },
    async (request, reply) => {
      const { hard = false, commandId, expectedVersion } = request.body ?? {};
      return run(request.params.type, request.params.id, { action: 'delete', hard, by: principalOf(request)?.name ?? null, ...(commandId !== undefined ? { commandId } : {}), ...(expectedVersion !== undefined ? { expectedVersion } : {}) }, reply);
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
            503: `\`Overloaded\`, \`StorageFailed\`, \`WorkerCrashed\` (retry with the same \`commandId\`)${clusterErrors}`,
          }),
        },
      },
    },
    async (request, reply) => {
      const { commandId, expectedVersion } = request.body ?? {};
      return run(request.params.type, request.params.id, { action: 'undelete', by: principalOf(request)?.name ?? null, ...(commandId !== undefined ? { commandId } : {}), ...(expectedVersion !== undefined ? { expectedVersion } : {}) }, reply);
    },
  );
};
