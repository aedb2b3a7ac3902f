/**
 * `/partitions`, `/health` and `/metrics`: what operators and the dashboard poll; and
 * `POST /admin/storage/resume`, the operator's "space is back, resume writes now".
 */
import type { FastifyPluginAsync } from 'fastify';
import { ErrorCodes } from '../../kernel/index.js';
import type { ActorStats, Runtime } from '../../runtime/index.js';
import type { FeedHub } from '../feed/hub.js';
import type { ServerMetrics } from '../metrics.js';
import type { Views } from '../../projections/index.js';

export interface SystemRoutesOptions {
  runtime: Runtime;
  metrics: ServerMetrics;
  feed: FeedHub;
  views: Views;
  /** True once the server began to stop (set by the preClose hook). */
  stopping: () => boolean;
}

/** A worker that does not answer a stats request this fast is reported without stats, not waited for. */
const STATS_TIMEOUT_MS = 1000;

export const systemRoutes: FastifyPluginAsync<SystemRoutesOptions> = async (app, { runtime, metrics, feed, views, stopping }) => {
  app.get('/partitions', async () => {
    const stats = await statsWithin(runtime, STATS_TIMEOUT_MS);
    const lag = feed.lag();
    const viewLag = views.names().map((name) => ({ name, lag: views.lag(name) }));
    return {
      partitions: runtime.partitions().map((p) => ({
        ...p,
        feedLag: lag[p.partition] ?? 0,
        views: Object.fromEntries(viewLag.map((v) => [v.name, { checkpoint: v.lag[p.partition]!.checkpoint, lag: v.lag[p.partition]!.lag }])),
      })),
      workers: stats?.map((s) => ({ worker: s.workerIndex, liveActors: s.liveActors, queued: s.queued, commandsProcessed: s.commandsProcessed })) ?? [],
    };
  });

  app.get('/health', async (_request, reply) => {
    const h = runtime.health();
    if (stopping() || !h.ok) {
      const status = stopping() ? 'stopping' : 'unhealthy';
      // One line per reason (its `message`), as /health has always answered; the typed reasons are the
      // embedded API's (runtime/health.ts).
      const reasons = h.reasons.map((r) => r.message);
      reply.code(503).header('retry-after', '1');
      return {
        error: ErrorCodes.Unavailable,
        message: `the server is ${status}`,
        status,
        reasons: stopping() ? ['stopping', ...reasons] : reasons,
        ...(h.storage ? { storage: h.storage } : {}),
      };
    }
    return { status: 'ok', partitions: runtime.partitionCount, workers: runtime.workerCount, aggregateTypes: runtime.aggregateTypes, feedClients: feed.size };
  });

  // Answers 200 { resumed, workers } (resumed: false when writes were not stopped), or 503
  // StorageFailed saying why not yet (still too little space, or a cause that needs a restart).
  app.post('/admin/storage/resume', async () => runtime.resumeWrites());

  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
};

async function statsWithin(runtime: Runtime, ms: number): Promise<ActorStats[] | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  try {
    return await Promise.race([runtime.stats(), timeout]);
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}
