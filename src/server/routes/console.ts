/**
 * `GET /console/stats`: the operations console's charts, read-only. Throughput and lag over the last
 * minutes, as the server sampled them (`console-stats.ts`), plus the names the console needs to label
 * them (the read models). Per-partition lag right now is `GET /partitions`.
 *
 * The sampler lives and dies with this plugin: started when the routes are registered, stopped on close.
 * `?since=<epoch ms>` answers only newer samples, so a page polling every interval fetches one or two.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Clock } from '../../kernel/index.js';
import type { Views } from '../../projections/index.js';
import type { Runtime } from '../../runtime/index.js';
import { ConsoleStats, type ConsoleStatsOptions } from '../console-stats.js';
import type { FeedHub } from '../feed/hub.js';

export interface ConsoleRoutesOptions {
  runtime: Runtime;
  feed: FeedHub;
  views: Views;
  clock: Clock;
  stats?: ConsoleStatsOptions | undefined;
}

const count = { type: 'integer', minimum: 0 } as const;

const statsResponse = {
  200: {
    type: 'object',
    required: ['intervalMs', 'capacity', 'partitions', 'views', 'samples'],
    additionalProperties: false,
    properties: {
      intervalMs: { type: 'integer' },
      capacity: { type: 'integer' },
      partitions: { type: 'integer' },
      views: { type: 'array', items: { type: 'string' } },
      samples: {
        type: 'array',
        items: {
          type: 'object',
          required: ['t', 'events', 'eventsPerSecond', 'feedLag', 'viewLag'],
          additionalProperties: false,
          properties: {
            t: { type: 'integer' },
            events: count,
            eventsPerSecond: { type: 'number', minimum: 0 },
            feedLag: count,
            viewLag: { type: 'object', additionalProperties: count },
          },
        },
      },
    },
  },
} as const;

export const consoleRoutes: FastifyPluginAsync<ConsoleRoutesOptions> = async (app, { runtime, feed, views, clock, stats: options }) => {
  const stats = new ConsoleStats(
    {
      heads: () => runtime.partitions().map((p) => p.offset),
      feedLag: () => feed.lag(),
      views: () => views.names(),
      viewLag: (name) => views.lag(name).map((l) => l.lag),
    },
    clock,
    options,
  );
  stats.start();
  app.addHook('onClose', async () => stats.stop());

  app.get<{ Querystring: { since?: number } }>(
    '/console/stats',
    {
      schema: {
        summary: "Throughput and lag as the server sampled them over the last minutes (the console's charts)",
        querystring: { type: 'object', additionalProperties: false, properties: { since: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'only the samples taken after this time (epoch ms)' } } },
        response: { 200: { description: 'the samples, oldest first', ...statsResponse[200] } },
      },
    },
    async (request) => ({
      intervalMs: stats.intervalMs,
      capacity: stats.capacity,
      partitions: runtime.partitionCount,
      views: views.names(),
      samples: stats.samples(request.query.since),
    }),
  );
};
