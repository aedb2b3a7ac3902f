/**
 * `POST /admin/partitions/:partition/resume`: an operator resumes a partition stopped on damage
 * (CorruptRecord / CorruptLog) once the damage is repaired, without restarting the server. The partition
 * re-reads its head and its actors re-hydrate; damage still there stops it again on the next command.
 * `GET /partitions` shows which partitions are stopped, and why.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Runtime } from '../../runtime/index.js';

export const partitionAdminRoutes: FastifyPluginAsync<{ runtime: Runtime }> = async (app, { runtime }) => {
  app.post<{ Params: { partition: number } }>(
    '/admin/partitions/:partition/resume',
    {
      schema: {
        params: { type: 'object', required: ['partition'], properties: { partition: { type: 'integer', minimum: 0, maximum: 65_535 } } },
      },
    },
    async (request) => {
      const r = await runtime.resumePartition(request.params.partition);
      return { ...r, resumed: true };
    },
  );
};
