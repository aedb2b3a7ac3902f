/**
 * `GET /feed`: the WebSocket status feed (see `feed/client.ts` for the catch-up and backpressure design).
 *
 * Everything that can be refused is refused before the upgrade, as a plain HTTP error with the JSON
 * body every route uses: a foreign Origin (403), a bad query or position (400), an unknown aggregate type
 * (404), too many clients (503 with Retry-After). A plain GET without an upgrade gets 426.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { ErrorCodes, ID_PATTERN, RuntimeError, errors } from '../../kernel/index.js';
import { partitionOf } from '../../partition/index.js';
import type { Runtime } from '../../runtime/index.js';
import { errorResponses } from '../api-schemas.js';
import type { FeedFilter } from '../feed/client.js';
import type { FeedHub, ResolvedFeedOptions } from '../feed/hub.js';
import { resolveFrom } from '../feed/position.js';

export interface FeedRouteOptions {
  runtime: Runtime;
  hub: FeedHub;
}

interface FeedQuery {
  from?: string;
  type?: string;
  stream?: string;
}

interface Subscription {
  from: number[];
  partitions: number[];
  filter: FeedFilter;
}

export const feedRoutes: FastifyPluginAsync<FeedRouteOptions> = async (app, { runtime, hub }) => {
  const subscriptions = new WeakMap<FastifyRequest, Subscription>();
  const P = runtime.partitionCount;

  app.route<{ Querystring: FeedQuery }>({
    method: 'GET',
    url: '/feed',
    schema: {
      summary: 'The live event feed (WebSocket)',
      description:
        'Connect with a WebSocket client. Messages are JSON text frames: first `{ kind: "hello", position, partitions }`, then `{ kind: "events", position, events: [Envelope] }`; ' +
        'reconnect with `?from=<position of the last message processed>` to continue with no gap and no duplicate (docs/http-api.md, "WebSocket feed"). ' +
        'A browser sends the token as the subprotocol pair `eventide.bearer`, `<token>`; with `?type=`, `read:<type>` is enough.',
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          from: { type: 'string', minLength: 1, maxLength: P * 17 + 8, description: '`start`, `now` (the default), or a position' },
          type: { type: 'string', minLength: 1, maxLength: 64, description: 'Only events of this aggregate type' },
          stream: { type: 'string', pattern: ID_PATTERN, description: 'Only events of this aggregate id' },
        },
      },
      response: {
        101: { description: 'Switching Protocols: the WebSocket is open', type: 'null' },
        ...errorResponses({
          400: '`InvalidQuery`: a bad query or position',
          404: '`UnknownAggregateType`',
          426: '`UpgradeRequired`: a plain GET, without `Upgrade: websocket`',
          429: '`RateLimited`: too many feed sockets from this address',
          503: '`Overloaded`: too many clients',
        }),
      },
    },
    onRequest: async (request) => {
      if (!originAllowed(request.headers.origin, request.headers.host, hub.options.allowedOrigins)) {
        throw new RuntimeError(ErrorCodes.Forbidden, `WebSocket connections from origin ${JSON.stringify(String(request.headers.origin).slice(0, 200))} are not allowed`);
      }
    },
    preHandler: async (request) => {
      const { from, type, stream } = request.query;
      if (type !== undefined && !runtime.aggregateTypes.includes(type)) throw errors.unknownAggregateType(type);
      if (hub.full) throw errors.overloaded('the feed', 5000);
      const heads = runtime.partitions().map((p) => p.offset);
      subscriptions.set(request, {
        from: resolveFrom(from, heads),
        // A stream lives in one partition: reading the others would only skip their events.
        partitions: stream !== undefined ? [partitionOf(stream, P)] : heads.map((_, p) => p),
        filter: { ...(type !== undefined ? { aggregateType: type } : {}), ...(stream !== undefined ? { stream } : {}) },
      });
    },
    handler: async () => {
      throw new RuntimeError(ErrorCodes.UpgradeRequired, 'GET /feed is a WebSocket endpoint: connect with a WebSocket client (Upgrade: websocket)');
    },
    wsHandler: (socket, request) => {
      const s = subscriptions.get(request);
      if (!s) {
        socket.close(1011, 'no subscription');
        return;
      }
      hub.accept(socket, s.from, s.partitions, s.filter);
    },
  });
};

/** Same origin is always allowed; `'*'` allows any; a list adds exact origins. No Origin: not a browser, allowed. */
export function originAllowed(origin: string | undefined, host: string | undefined, allowed: ResolvedFeedOptions['allowedOrigins']): boolean {
  if (origin === undefined || allowed === '*') return true;
  if (Array.isArray(allowed) && allowed.includes(origin)) return true;
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}
