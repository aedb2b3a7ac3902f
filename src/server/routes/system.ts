/**
 * `/partitions`, `/health` and `/metrics`: what operators and the dashboard poll; and
 * `POST /admin/storage/resume`, the operator's "space is back, resume writes now".
 */
import type { FastifyPluginAsync } from 'fastify';
import { ErrorCodes } from '../../kernel/index.js';
import type { ActorStats, ClusterLink, Runtime } from '../../runtime/index.js';
import { emptyBody, errorResponses } from '../api-schemas.js';
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

const count = { type: 'integer', minimum: 0 } as const;
const partitionsReply = {
  description: 'Each partition: its worker, offset (events written), feed lag and each view\'s checkpoint and lag; and each worker\'s load',
  type: 'object',
  required: ['partitions', 'workers'],
  additionalProperties: false,
  properties: {
    partitions: {
      type: 'array',
      items: {
        type: 'object',
        required: ['partition', 'worker', 'offset', 'feedLag', 'views'],
        additionalProperties: false,
        properties: {
          partition: count,
          worker: count,
          offset: count,
          stopped: { type: 'string', description: 'Why the partition is stopped (damage found); `POST /admin/partitions/:partition/resume` resumes it' },
          served: { type: 'boolean', description: 'Cluster mode: whether this server serves the partition now (it holds its lease and has caught up)' },
          epoch: count,
          owner: { type: 'string', description: 'Cluster mode: the member that owns the partition, as this server last saw it' },
          lag: { ...count, description: 'Cluster mode, a partition another member writes: messages of its stream this server has not applied yet' },
          followError: { type: 'string', description: 'Cluster mode: why this server cannot follow the partition right now (it retries)' },
          feedLag: count,
          views: { type: 'object', additionalProperties: { type: 'object', required: ['checkpoint', 'lag'], additionalProperties: false, properties: { checkpoint: count, lag: count } } },
        },
      },
    },
    node: { type: 'string', description: 'Cluster mode: the member this server is (its node id)' },
    members: {
      type: 'array',
      description: 'Cluster mode: the live members as this server sees them, sorted by node id, with the URL each announced',
      items: { type: 'object', required: ['nodeId'], additionalProperties: false, properties: { nodeId: { type: 'string' }, url: { type: 'string' } } },
    },
    workers: {
      type: 'array',
      description: 'Empty when the workers did not answer within a second',
      items: { type: 'object', required: ['worker', 'liveActors', 'queued', 'commandsProcessed'], additionalProperties: false, properties: { worker: count, liveActors: count, queued: count, commandsProcessed: count } },
    },
  },
} as const;
const degradedLines = { type: 'array', items: { type: 'string' }, description: 'Cluster mode: what degrades this server without stopping it (a partition another member writes that its cache cannot follow), one line each' } as const;
const healthy = {
  description: 'Serving (`degraded`: serving, with `degraded` saying what is wrong)',
  type: 'object',
  required: ['status', 'partitions', 'workers', 'aggregateTypes', 'feedClients'],
  additionalProperties: false,
  properties: { status: { enum: ['ok', 'degraded'] }, partitions: count, workers: count, aggregateTypes: { type: 'array', items: { type: 'string' } }, feedClients: count, degraded: degradedLines },
} as const;
const storageStatus = {
  type: 'object',
  required: ['cause', 'freeBytes', 'mount', 'workers', 'autoResume'],
  properties: { cause: { type: 'string' }, freeBytes: { type: ['integer', 'null'] }, mount: { type: 'string' }, workers: { type: 'array', items: count }, autoResume: { type: 'boolean' } },
} as const;
const unhealthy = {
  description: '`Unavailable`: starting, stopping, or unhealthy (`reasons`, and `storage` after a storage failure)',
  type: 'object',
  required: ['error', 'message', 'status'],
  properties: {
    error: { const: 'Unavailable' },
    message: { type: 'string' },
    status: { enum: ['starting', 'stopping', 'unhealthy'] },
    reasons: { type: 'array', items: { type: 'string' } },
    degraded: degradedLines,
    storage: storageStatus,
  },
} as const;

export const systemRoutes: FastifyPluginAsync<SystemRoutesOptions> = async (app, { runtime, metrics, feed, views, stopping }) => {
  app.get('/partitions', { schema: { summary: 'The partition map, with feed and view lag per partition', response: { 200: partitionsReply } } }, async () => {
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
      ...(runtime.cluster ? clusterView(runtime.cluster) : {}),
    };
  });

  app.get('/health', { schema: { summary: 'Liveness and readiness (needs no token)', response: { 200: healthy, 503: unhealthy } } }, async (_request, reply) => {
    const h = runtime.health();
    const degraded = h.degraded?.map((r) => r.message);
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
        ...(degraded ? { degraded } : {}),
        ...(h.storage ? { storage: h.storage } : {}),
      };
    }
    // Degraded is still serving (200): a load balancer keeps sending; an operator reads `degraded`.
    const base = { partitions: runtime.partitionCount, workers: runtime.workerCount, aggregateTypes: runtime.aggregateTypes, feedClients: feed.size };
    return degraded ? { status: 'degraded', ...base, degraded } : { status: 'ok', ...base };
  });

  // Answers 200 { resumed, workers } (resumed: false when writes were not stopped), or 503
  // StorageFailed saying why not yet (still too little space, or a cause that needs a restart).
  app.post(
    '/admin/storage/resume',
    {
      schema: {
        summary: 'Resume writes after a storage failure, now',
        description: 'The operator\'s "space is back": probes the storage and resumes the stopped writers (a background probe does the same by itself after ENOSPC).',
        body: emptyBody,
        response: {
          200: {
            description: '`resumed: false` when writes were not stopped',
            type: 'object',
            required: ['resumed', 'workers'],
            additionalProperties: false,
            properties: { resumed: { type: 'boolean' }, workers: { type: 'array', items: count } },
          },
          ...errorResponses({ 503: '`StorageFailed`: not yet (still too little space, or a cause that needs a restart)' }),
        },
      },
    },
    async () => runtime.resumeWrites(),
  );

  app.get(
    '/metrics',
    { schema: { summary: 'Prometheus metrics', response: { 200: { description: 'The Prometheus text format (version 0.0.4)', content: { 'text/plain': { schema: { type: 'string' } } } } } } },
    async (_request, reply) => {
      reply.header('content-type', metrics.registry.contentType);
      return metrics.registry.metrics();
    },
  );
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

/** Which member this server is, and the live members with the URL each announced (run-server.ts announces it). */
function clusterView(cluster: ClusterLink): { node: string; members: { nodeId: string; url?: string }[] } {
  return {
    node: cluster.nodeId,
    members: cluster.members().map((m) => ({ nodeId: m.nodeId, ...(typeof m.meta.url === 'string' ? { url: m.meta.url } : {}) })),
  };
}
