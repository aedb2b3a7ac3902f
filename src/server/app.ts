/**
 * `buildServer({ runtime, views })`: the fastify app in front of an open Runtime and its read models (as
 * `createEventide` returns them). It does not listen and does not own the runtime: the caller (`main.ts`,
 * a test, an embedding program) listens, and closes the runtime after `app.close()` resolved, so
 * in-flight commands finish before LMDB closes.
 *
 * Order matters here:
 * 1. The error handler, the 404 handler, the schema compilers and the shared schemas are set on the root
 *    before any route or plugin, so extra plugins (e.g. the video pipeline's `/videos`) inherit them: every
 *    error anywhere is `{ error, message, ...details }` with the status from `error-status.ts`.
 * 2. `@fastify/websocket` is registered before the routes (it must see them to intercept upgrades), and
 *    before any hook that may refuse a request (`registerSecurity`, the edge checks; see the comments there).
 * 3. The edge checks run as a root `onRequest` hook before any route's own hooks, for every route and
 *    plugin and for the feed's handshake: the Host header (`allowed-hosts.ts`), then JSON-only bodies on
 *    mutating routes (`json-body.ts`). Errors Node or the router raise before a route runs go through
 *    `error-handlers.ts`, so even a bad request line is answered `{ error, message }`.
 * 4. The OpenAPI generator (`openapi.ts`) is registered before the first route: it collects routes as
 *    they are added, plugins' too. Response schemas document answers; they never reshape one
 *    (`schema-compilers.ts`).
 *
 * Gotchas:
 * - Keep `onProtoPoisoning`/`onConstructorPoisoning` at `error`: a body with `__proto__` or
 *   `constructor.prototype` is refused with 400 before any code sees it (tested).
 * - `return503OnClosing` is off because fastify's own 503 body does not follow our error format; the
 *   `onRequest` hook below answers 503 `Unavailable` instead while the server stops.
 * - With a `serverFactory`, create the server with `requireHostHeader: false` (as `main.ts` does), or
 *   Node answers an HTTP/1.1 request without Host itself, with an empty 400.
 */
import type { Duplex } from 'node:stream';
import fastifyWebsocket from '@fastify/websocket';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyPluginAsync, type FastifyServerOptions } from 'fastify';
import { ErrorCodes, systemClock, type Clock } from '../kernel/index.js';
import type { Runtime } from '../runtime/index.js';
import { Views } from '../projections/index.js';
import { checkHost, resolveAllowedHosts, type AllowedHostsOption } from './allowed-hosts.js';
import { NOSNIFF, clientErrorHandler, frameworkErrorHandler, notFoundHandler, sendError } from './error-handlers.js';
import { checkJsonOnly, useStrictJsonParser } from './json-body.js';
import { noteErrorCode } from './logger.js';
import { FEED_CLOSE } from './feed/client.js';
import type { ConsoleStatsOptions } from './console-stats.js';
import { FeedHub, resolveFeedOptions, type FeedOptions } from './feed/hub.js';
import { ServerMetrics } from './metrics.js';
import { adminRoutes } from './routes/admin.js';
import { aggregateRoutes } from './routes/aggregates.js';
import { auditRoutes } from './routes/audit.js';
import { consoleRoutes } from './routes/console.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { feedRoutes } from './routes/feed.js';
import { partitionAdminRoutes } from './routes/partition-admin.js';
import { retentionRoutes } from './routes/retention.js';
import { scavengeRoutes } from './routes/scavenge.js';
import { streamAdminRoutes } from './routes/stream-admin.js';
import { subjectAdminRoutes } from './routes/subject-admin.js';
import { systemRoutes } from './routes/system.js';
import { viewRoutes } from './routes/views.js';
import { ClusterRouting } from './cluster-routing.js';
import { addSharedSchemas } from './api-schemas.js';
import { registerOpenApi } from './openapi.js';
import { jsonSerializerCompiler, schemaCompiler } from './schema-compilers.js';
import { registerSecurity, selectFeedProtocol, type SecurityOptions } from './security/index.js';

/** An extra set of routes registered into the server, given the runtime (e.g. the video pipeline's `/videos`). */
/** In cluster mode a plugin is also given the routing, to answer reads of partitions another member owns. */
export type ServerPlugin = FastifyPluginAsync<ServerPluginOptions>;

export interface ServerPluginOptions {
  runtime: Runtime;
  /** Cluster mode only (cluster-routing.ts). */
  routing?: ClusterRouting | undefined;
}

export interface ServerOptions {
  /** An open runtime. The server never closes it: close it after `app.close()`. */
  runtime: Runtime;
  /** Fastify's logger option (pino). Default: off. */
  logger?: FastifyServerOptions['logger'];
  /** A logger made already (`createLogger`, as `npm start` does); wins over `logger`. */
  loggerInstance?: FastifyBaseLogger;
  /** Largest command body in bytes (default 1 MiB); larger ones get 413 `PayloadTooLarge`. */
  commandBodyLimit?: number;
  /** WebSocket feed limits and the allowed origins. */
  feed?: FeedOptions;
  /** Extra route plugins, registered after the built-in routes with `{ runtime }` as options. */
  plugins?: readonly ServerPlugin[];
  /**
   * The read models (`createEventide` returns them; the caller closes them). When not given they are
   * opened on `runtime`, which must then run the projection engine, and closed with the app.
   */
  views?: Views;
  /** Serve the dashboard at `/` (default true). */
  dashboard?: boolean;
  /**
   * Fastify's `serverFactory`: lets `npm start` listen (and answer 503 "starting") before the runtime is
   * open, then hand the already-listening server to fastify.
   */
  serverFactory?: FastifyServerOptions['serverFactory'];
  /** Include prom-client's default process metrics (default true). */
  defaultMetrics?: boolean;
  /** Tokens and scopes, protected mode, rate and connection limits (see `security/index.ts`). */
  security?: SecurityOptions;
  /**
   * Host names this server answers for besides `localhost`, `127.0.0.1`, `[::1]` and the address a
   * request arrived at; `'*'` turns the Host check off. A request naming another host gets 421
   * `HostNotAllowed` (see allowed-hosts.ts).
   */
  allowedHosts?: AllowedHostsOption;
  /** Where `POST /admin/backup` writes named backups (default: $BACKUP_DIR, else `<dataDir>/../backups`). */
  backupDir?: string;
  /** Wall-clock time for what the server opens itself (the views' rebuild times, the console's samples); default: the system clock. */
  clock?: Clock;
  /** How often `GET /console/stats` samples throughput and lag, and how many samples it keeps (default 2 s, 300). */
  consoleStats?: ConsoleStatsOptions;
}

const MiB = 1024 * 1024;

export async function buildServer(options: ServerOptions): Promise<FastifyInstance> {
  const { runtime } = options;
  const commandBodyLimit = options.commandBodyLimit ?? MiB;
  const feedOptions = resolveFeedOptions(options.feed);
  const allowedHosts = resolveAllowedHosts(options.allowedHosts);
  const app = Fastify({
    ...(options.loggerInstance ? { loggerInstance: options.loggerInstance } : { logger: options.logger ?? false }),
    bodyLimit: Math.max(commandBodyLimit, MiB),
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    // Ids may be 128 characters; longer ones must reach the schema (400 InvalidId), not miss the route.
    routerOptions: { maxParamLength: 1024 },
    // The Host check answers a missing Host itself, in the error shape (see allowed-hosts.ts).
    http: { requireHostHeader: false },
    frameworkErrors: frameworkErrorHandler,
    clientErrorHandler,
    ...(options.serverFactory ? { serverFactory: options.serverFactory } : {}),
  });

  app.setValidatorCompiler(schemaCompiler());
  app.setSerializerCompiler(jsonSerializerCompiler);
  addSharedSchemas(app);
  useStrictJsonParser(app);
  app.setErrorHandler((err, request, reply) => sendError(err, request, reply));
  app.setNotFoundHandler(notFoundHandler(app));

  let stopping = false;
  // Runs on every request, so callback style: an async hook costs a promise and a microtask each time.
  // After answering, a callback hook must not call `done`; passing an error to `done` answers it.
  app.addHook('onRequest', (_request, reply, done) => {
    if (!stopping) return done();
    noteErrorCode(reply, ErrorCodes.Unavailable);
    void reply.header('connection', 'close').header('retry-after', '1').code(503).send({ error: ErrorCodes.Unavailable, message: 'the server is stopping', status: 'stopping' });
  });
  // No answer of this server is meant to be sniffed into another type (an upload served as HTML).
  app.addHook('onSend', (_request, reply, _payload, done) => {
    void reply.header('x-content-type-options', NOSNIFF);
    done();
  });

  const views = options.views ?? (await Views.open(runtime, options.clock ? { clock: options.clock } : {}));
  if (!options.views) app.addHook('onClose', async () => views.close());
  const hub = new FeedHub(runtime, feedOptions);
  const metrics = new ServerMetrics(runtime, { clients: () => hub.size, lag: () => hub.lag(), catchUps: () => ({ active: hub.catchUps.active, waiting: hub.catchUps.waiting }), chunksRead: () => hub.chunks.reads, readerOnThread: () => hub.readerOnThread }, { defaultMetrics: options.defaultMetrics ?? true, views });
  hub.counters = {
    sent: (events) => metrics.feedMessages.inc(events),
    paused: () => metrics.feedSlowConsumers.inc({ action: 'paused' }),
    closedSlow: () => metrics.feedSlowConsumers.inc({ action: 'closed' }),
  };

  await app.register(fastifyWebsocket, {
    options: { maxPayload: feedOptions.maxPayload, perMessageDeflate: false, handleProtocols: selectFeedProtocol },
    // Our own preClose: feed clients get 1001 with a hint to resume, then the ws server closes.
    preClose: async function () {
      stopping = true;
      await hub.close(FEED_CLOSE.goingAway, 'server stopping: reconnect later with ?from=<position of the last message you processed>');
      await new Promise<void>((resolve) => app.websocketServer.close(() => resolve()));
    },
  });
  // A handshake that comes in while the server stops (a feed client reconnecting at once after its 1001):
  // fastify answers it 503 before any hook runs, so @fastify/websocket never destroys its socket (its own
  // preClose, which we replace, would have stopped listening for upgrades), and `server.close()` waited
  // for that socket for ever. Dropped here; the client retries later, elsewhere.
  app.server.on('upgrade', (_request, socket: Duplex) => {
    if (stopping) socket.destroy();
  });
  app.addHook('onClose', async () => metrics.close());

  // The edge checks (allowed-hosts.ts, json-body.ts), then tokens and limits (security/). Both after
  // @fastify/websocket on purpose: its own onRequest hook marks an upgrade request so that the socket is
  // destroyed after an error answer; a handshake refused before that hook ran would leave its socket open
  // (and `app.close()` waiting on it).
  app.addHook('onRequest', (request, _reply, done) => {
    try {
      checkHost(request.raw, allowedHosts);
      checkJsonOnly(request);
    } catch (err) {
      return done(err as Error);
    }
    done();
  });
  // Tokens, scopes, rate limits: after the Host check (a rebinding page is refused as a foreign host).
  registerSecurity(app, options.security);

  // Before every route: the OpenAPI generator collects the routes as they are added (openapi.ts).
  await registerOpenApi(app);
  // Cluster mode: any server answers any request (cluster-routing.ts); this one answers what others forward.
  const routing = runtime.cluster ? new ClusterRouting(runtime, runtime.cluster) : undefined;
  await routing?.start();
  await app.register(aggregateRoutes, { runtime, metrics, commandBodyLimit, routing });
  await app.register(systemRoutes, { runtime, metrics, feed: hub, views, stopping: () => stopping });
  await app.register(viewRoutes, { views, partitions: runtime.partitionCount });
  await app.register(partitionAdminRoutes, { runtime });
  await app.register(retentionRoutes, { runtime });
  await app.register(scavengeRoutes, { runtime });
  await app.register(auditRoutes, { runtime, routing });
  await app.register(streamAdminRoutes, { runtime, routing });
  await app.register(subjectAdminRoutes, { runtime });
  await app.register(feedRoutes, { runtime, hub });
  await app.register(adminRoutes, { runtime, backupDir: options.backupDir });
  await app.register(consoleRoutes, { runtime, feed: hub, views, clock: options.clock ?? systemClock, stats: options.consoleStats });
  if (options.dashboard !== false) await app.register(dashboardRoutes);
  for (const plugin of options.plugins ?? []) await app.register(plugin, { runtime, routing });
  return app;
}
