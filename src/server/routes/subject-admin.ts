/**
 * `POST /admin/subjects/:subject/forget`: crypto-shredding (runtime `forget`, runtime/subject-cipher.ts).
 * Deletes the data subject's key, so every personal field sealed with it reads as `null` from then on
 * (events, history, the time machine, views, the feed's catch-up, later backups), and records
 * `SubjectForgotten` in the audit stream with the token's name as `by`. Under `/admin/`: admin scope.
 * Idempotent: forgetting a forgotten subject again answers `deleted: false` and records nothing new.
 */
import type { FastifyPluginAsync } from 'fastify';
import { ID_PATTERN } from '../../kernel/index.js';
import type { Runtime } from '../../runtime/index.js';
import { emptyBody, errorResponses } from '../api-schemas.js';
import { principalOf } from '../security/index.js';

const forgetReply = {
  description: 'Forgotten: the key is deleted, caches dropped, the audit record appended',
  type: 'object',
  required: ['subject', 'deleted', 'scrubbed', 'audit'],
  additionalProperties: false,
  properties: {
    subject: { type: 'string' },
    deleted: { type: 'boolean', description: 'False when the subject had been forgotten before' },
    scrubbed: { type: 'boolean', description: "True when the key's bytes were checked gone from the key store's file" },
    audit: {
      type: 'object',
      required: ['version', 'duplicate'],
      additionalProperties: false,
      properties: { version: { type: 'integer', minimum: 1, description: 'The audit stream version of the SubjectForgotten record' }, duplicate: { type: 'boolean' } },
    },
  },
} as const;

export const subjectAdminRoutes: FastifyPluginAsync<{ runtime: Runtime }> = async (app, { runtime }) => {
  app.post<{ Params: { subject: string } }>(
    '/admin/subjects/:subject/forget',
    {
      schema: {
        summary: "Forget a data subject: delete its key, so its personal fields read as null everywhere (crypto-shredding)",
        params: { type: 'object', required: ['subject'], additionalProperties: false, properties: { subject: { type: 'string', pattern: ID_PATTERN, description: "The subject's id (for a decider declaring `subject: '$id'`, the stream's id)" } } },
        body: emptyBody,
        response: {
          200: forgetReply,
          ...errorResponses({ 400: '`InvalidId`: a subject outside the id pattern', 501: '`NotImplemented`: cluster mode (personal data is not sealed there)' }),
        },
      },
    },
    async (request) => {
      const result = await runtime.forget(request.params.subject, { by: principalOf(request)?.name ?? null });
      request.log.info({ subject: result.subject, deleted: result.deleted, scrubbed: result.scrubbed }, 'subject forgotten');
      return result;
    },
  );
};
