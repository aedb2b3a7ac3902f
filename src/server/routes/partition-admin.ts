/**
 * `POST /admin/partitions/:partition/resume`: an operator resumes a partition stopped on damage
 * (CorruptRecord / CorruptLog) once the damage is repaired, without restarting the server. The partition
 * re-reads its head and its actors re-hydrate; damage still there stops it again on the next command.
 * `GET /partitions` shows which partitions are stopped, and why.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Runtime } from '../../runtime/index.js';
import { emptyBody, errorResponses } from '../api-schemas.js';

export const partitionAdminRoutes: FastifyPluginAsync<{ runtime: Runtime }> = async (app, { runtime }) => {
  app.post<{ Params: { partition: number } }>(
    '/admin/partitions/:partition/resume',
    {
      schema: {
        summary: 'Resume a partition stopped on damage, once repaired, without a restart',
        params: { type: 'object', required: ['partition'], properties: { partition: { type: 'integer', minimum: 0, maximum: 65_535 } } },
        body: emptyBody,
        response: {
          200: {
            description: 'Resumed (`wasStopped: false`: it was running; nothing to do)',
            type: 'object',
            required: ['partition', 'wasStopped', 'offset', 'resumed'],
            additionalProperties: false,
            properties: { partition: { type: 'integer', minimum: 0 }, wasStopped: { type: 'boolean' }, offset: { type: 'integer', minimum: 0 }, resumed: { const: true } },
          },
          ...errorResponses({ 400: '`InvalidQuery`: no such partition', 503: '`CorruptRecord`, `CorruptLog`: its head cannot be read' }),
        },
      },
    },
    async (request) => {
      const r = await runtime.resumePartition(request.params.partition);
      return { ...r, resumed: true };
    },
  );
};
