/**
 * The server as `npm start` and `eventide serve` run it, configured by environment variables:
 *   DATA_DIR   where the event log lives (default ./data)
 *   PORT       default 3000 (0 picks a free port; the chosen URL is logged)
 *   HOST       default 127.0.0.1 (set 0.0.0.0 to listen on every interface)
 *   PARTITIONS partition count for a NEW data dir (default 16; an existing one keeps its own)
 *   WORKERS    actor worker threads (default 1: one writer per LMDB log; more when deciders are costly)
 *   FEED_ORIGINS extra origins allowed to open /feed (comma-separated, or *); same origin always is
 *   ALLOWED_HOSTS extra Host names the server answers for (comma-separated, or * for any); localhost,
 *              127.0.0.1, [::1] and the address a request arrived at always are (DNS rebinding defence)
 *   LOG_LEVEL  pino level (default info; warn hides the per-request lines)
 *   VIDEO_JOBS concurrent encodes (default 4); VIDEO_MAX_UPLOAD_BYTES (default 2 GiB)
 *   FFMPEG_PATH / FFPROBE_PATH  other ffmpeg binaries than the system ones (PATH) or the npm-installed ones
 *   Encode limits (docs/http-api.md "Encode limits"): VIDEO_MAX_QUEUED (videos, default 100),
 *   VIDEO_CLIENT_QUEUE_SECONDS (queued encode seconds per client, default 43 200), VIDEO_MAX_PIXELS
 *   (default 8192x4320), VIDEO_FFMPEG_MAX_MEMORY_MB (per ffmpeg, default 2048, 0: none),
 *   VIDEO_JOB_TIMEOUT_BASE_SEC (default 120) + VIDEO_JOB_TIMEOUT_PER_VIDEO_SEC (default 20 per second of video)
 *   STORAGE_RESERVE_BYTES free space the data dir's disk must keep (default 64 MiB): below it writes get
 *              503 StorageFailed (ENOSPC) and resume by themselves once space is back
 *   SCAVENGE_EVERY_MS how often the scavenge removes what retention hides (default 300 000; 0: only
 *              POST /admin/scavenge or `eventide scavenge` do: docs/data-lifecycle.md, "Scavenge")
 *   TOKENS_FILE / EVENTIDE_TOKENS  bearer tokens; ALLOW_UNAUTHENTICATED=1 to serve a non-loopback HOST without
 *   them; RATE_LIMIT(_BURST), MAX_CONNECTIONS(_PER_ADDRESS), MAX_FEED_PER_ADDRESS, HEADERS_TIMEOUT_MS,
 *   MIN_BODY_RATE, BODY_RATE_WINDOW_MS  (docs/http-api.md, "Security")
 *   BACKUP_DIR where POST /admin/backup writes named backups (default <DATA_DIR>/../backups)
 *   DOMAINS    extra domain modules, loaded besides the built-in account and video deciders (which stay:
 *              the video pipeline needs `video`): comma-separated file URLs or paths (absolute, or relative
 *              to the working directory) of JavaScript modules whose default export is a Decider
 * Cluster mode (docs/cluster.md; cluster-env.ts says why the defaults): unset EVENTIDE_NATS keeps the
 * embedded single server, with no NATS at all.
 *   EVENTIDE_NATS      NATS URLs of the JetStream cluster (nats://host:port, comma-separated): this server
 *                      is then one node of a group sharing the partitions; DATA_DIR is its local cache
 *   EVENTIDE_NODE_ID   this node's id in the group ([A-Za-z0-9_-]{1,64}; default <hostname>-<port>)
 *   EVENTIDE_GROUP     the group's name (default eventide); every member of a group uses the same PARTITIONS
 *   EVENTIDE_REPLICAS  copies of each partition's stream and of the lease bucket: 1, 3 or 5 (default 1
 *                      with fewer than three URLs, else 3; a single nats-server can keep only 1)
 *   EVENTIDE_LEASE_MS  a partition lease's lifetime (default 3 000; 300 to 600 000): how long a dead
 *                      member's partitions wait before another takes them
 *   EVENTIDE_FORWARD_TIMEOUT_MS  how long a request forwarded to the owner waits (default 10 000; 100 to
 *                      600 000); a command not answered by then is 503 Unavailable, outcome unknown
 *   VIDEO_CACHE_MAX_BYTES  bytes of video files this node keeps copies of (default 10 GiB; 0: no bound):
 *                      the object store holds them all, and those used least recently go first
 *   VIDEO_CACHE_MIN_FREE_BYTES  free space those copies leave on the data dir's disk (default 1 GiB;
 *                      0: none): below it they go too, before the log runs into its own reserve
 *   In cluster mode WORKERS must be 1 (the default there), and a request for a partition another member
 *   owns is forwarded to it over NATS; during a handover the answer is 503 NotOwner with Retry-After.
 *
 * Shutdown on SIGTERM/SIGINT, in this order: stop accepting (new connections are refused, requests on open
 * keep-alive connections get 503), let in-flight commands finish (each is answered only once durable), close
 * feed clients with 1001, then close the views and the runtime (workers drain and close LMDB), then exit 0. A second
 * signal, or a shutdown taking longer than SHUTDOWN_TIMEOUT_MS (default 15 000), exits 1 at once: acknowledged
 * commands are durable anyway; only unanswered ones may be lost, and their clients saw no 2xx.
 */
import { existsSync } from 'node:fs';
import { createServer, type RequestListener, type Server } from 'node:http';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Logger } from 'pino';
import { ErrorCodes, RuntimeError } from '../kernel/index.js';
import { createEventide } from '../app/index.js';
import { hasLog } from '../log/index.js';
import { builtinDomains } from '../runtime/index.js';
import { DEFAULT_MAX_LOCAL_BYTES, DEFAULT_MAX_UPLOAD_BYTES, DEFAULT_MIN_FREE_BYTES, createVideoPipeline, videoBucketOf, type VideoPipelineOptions } from '../video/index.js';
import { allowedHostsFromEnv, resolveAllowedHosts } from './allowed-hosts.js';
import { buildServer, type ServerPlugin } from './app.js';
import { clusterEnvOf, clusterOptions } from './cluster-env.js';
import { intEnv as intEnvOf, type Env } from './env.js';
import { clientErrorHandler } from './error-handlers.js';
import { codeOf, createLogger, logLevelOf } from './logger.js';
import { videoRoutes } from './routes/videos.js';
import { assertSafeBind, securityFromEnv } from './security/index.js';


/** The encode limits' environment variables; unset ones keep the pipeline's defaults. */
function videoLimitsFromEnv(env: Env): Pick<VideoPipelineOptions, 'maxQueuedVideos' | 'maxQueuedSecondsPerClient' | 'encode'> {
  const intEnv = (name: string, fallback: number | undefined, min: number, max: number): number | undefined => intEnvOf(env, name, fallback, min, max);
  const set = <K extends string>(key: K, v: number | undefined): Partial<Record<K, number>> => (v === undefined ? {} : ({ [key]: v } as Record<K, number>));
  const memoryMb = intEnv('VIDEO_FFMPEG_MAX_MEMORY_MB', undefined, 0, 1 << 20);
  const baseSec = intEnv('VIDEO_JOB_TIMEOUT_BASE_SEC', undefined, 1, 86_400);
  const perSec = intEnv('VIDEO_JOB_TIMEOUT_PER_VIDEO_SEC', undefined, 0, 3_600);
  return {
    ...set('maxQueuedVideos', intEnv('VIDEO_MAX_QUEUED', undefined, 1, 1_000_000)),
    ...set('maxQueuedSecondsPerClient', intEnv('VIDEO_CLIENT_QUEUE_SECONDS', undefined, 1, Number.MAX_SAFE_INTEGER)),
    encode: {
      ...set('maxPixels', intEnv('VIDEO_MAX_PIXELS', undefined, 256, 8192 * 8192)),
      ...set('maxMemoryBytes', memoryMb === undefined ? undefined : memoryMb * 2 ** 20),
      ...set('jobTimeoutBaseMs', baseSec === undefined ? undefined : baseSec * 1000),
      ...set('jobTimeoutPerVideoSecMs', perSec === undefined ? undefined : perSec * 1000),
    },
  };
}

/**
 * `DOMAINS`: the modules it names are added to the built-in ones, never replace them, so leaving `video`
 * out cannot break the video pipeline. A name that is no file stops start-up here, in one line; a file
 * that is no decider module stops it when the runtime loads it (InvalidOptions).
 */
export function domainsFromEnv(env: Env): URL[] {
  const entries = (env.DOMAINS ?? '').split(',').map((e) => e.trim()).filter(Boolean);
  return entries.map((entry) => {
    const url = URL.canParse(entry) && entry.startsWith('file:') ? new URL(entry) : pathToFileURL(resolve(entry));
    if (!existsSync(url)) throw new RuntimeError(ErrorCodes.InvalidOptions, `DOMAINS must list domain modules (comma-separated paths or file URLs), but there is no file ${JSON.stringify(entry)}`);
    return url;
  });
}

export interface RunningServer {
  readonly url: string;
  readonly log: Logger;
  /** The shutdown of the header, as a signal runs it; resolves when the data dir is released. */
  close(): Promise<void>;
}

/**
 * Starts the server `env` describes (the variables of the header) and, unless `signals` is false, closes
 * it on SIGTERM/SIGINT and exits. `npm start` and `eventide serve` both come here.
 */
export async function runServer(env: Env, options: { signals?: boolean } = {}): Promise<RunningServer> {
  const intEnv = (name: string, fallback: number | undefined, min: number, max: number): number | undefined => intEnvOf(env, name, fallback, min, max);
  const log = createLogger({ level: logLevelOf(env.LOG_LEVEL) });
  const dataDir = env.DATA_DIR || './data';
  const port = intEnv('PORT', 3000, 0, 65_535)!;
  const host = env.HOST || '127.0.0.1';
  const partitions = intEnv('PARTITIONS', undefined, 1, 65_536);
  const workers = intEnv('WORKERS', undefined, 1, 256);
  const shutdownTimeoutMs = intEnv('SHUTDOWN_TIMEOUT_MS', 15_000, 100, 600_000)!;
  const origins = env.FEED_ORIGINS?.trim();
  const storageReserveBytes = intEnv('STORAGE_RESERVE_BYTES', undefined, 0, Number.MAX_SAFE_INTEGER);
  const scavengeEveryMs = intEnv('SCAVENGE_EVERY_MS', undefined, 0, 2_147_483_647);
  const extraDomains = domainsFromEnv(env);
  const clusterEnv = clusterEnvOf(env);
  // Before listening: a public address without tokens stops start-up here (protected mode).
  const security = securityFromEnv(env);
  assertSafeBind(host, security);
  // The bind address is allowed as the Host: an IP literal by the socket's local address (allowed-hosts.ts),
  // a name (HOST=box.lan) by adding it here.
  const fromEnv = allowedHostsFromEnv(env.ALLOWED_HOSTS);
  const allowedHosts = fromEnv === '*' ? fromEnv : isIP(host) ? fromEnv : [...(fromEnv ?? []), host];
  resolveAllowedHosts(allowedHosts); // a bad entry stops start-up now, before anything listens

  // Listen first and answer 503 "starting" until the runtime is open (replaying a big log takes a
  // moment); then the same server is handed to fastify, so there is no window of refused connections.
  let handle: RequestListener = (_req, res) => {
    res.writeHead(503, { 'content-type': 'application/json; charset=utf-8', 'retry-after': '1', connection: 'close' });
    res.end(JSON.stringify({ error: 'Unavailable', message: 'the server is starting', status: 'starting' }));
  };
  let fastifyHandler: RequestListener | undefined;
  // requireHostHeader off: the app's Host check answers a missing Host in the JSON error shape. Until
  // fastify takes the server over (it installs the same client-error handler), ours answers Node's own
  // parse errors (bad request line, oversized headers, timeouts) in that shape too.
  const server = createServer({ requireHostHeader: false }, (req, res) => handle(req, res));
  server.on('clientError', clientErrorHandler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host }, () => {
      server.off('error', reject);
      resolve();
    });
  });

  // Tools (and tests) learn the URL while the log opens.
  log.info({ url: urlOf(server), dataDir: resolve(dataDir), node: process.version }, 'eventide starting: 503 until the runtime is open');
  // A mistyped DATA_DIR serves an empty log: say so where the operator looks first.
  if (!hasLog(resolve(dataDir))) log.info({ dataDir: resolve(dataDir) }, 'no event log in the data dir: creating a new one');

  // The composition: the runtime with the projection engine and its views (app/create-eventide.ts), then
  // the video pipeline on that runtime, then the HTTP server in front of both.
  // Cluster mode: the node id defaults to this host and the port just bound; the members learn its URL.
  const listeningUrl = urlOf(server);
  const cluster = clusterEnv && clusterOptions(clusterEnv, hostname(), portOf(server), isUnspecified(host) ? undefined : listeningUrl);
  if (cluster) log.info({ nats: cluster.servers, group: cluster.group, nodeId: cluster.nodeId, replicas: cluster.replicas }, 'cluster mode: joining the group');
  const eventide = await createEventide({
    dataDir,
    ...(cluster ? { cluster } : {}),
    ...(partitions !== undefined ? { partitions } : {}),
    ...(workers !== undefined ? { workers } : {}),
    ...(storageReserveBytes !== undefined ? { storageReserveBytes } : {}),
    ...(scavengeEveryMs !== undefined ? { scavengeEveryMs } : {}),
    ...(extraDomains.length > 0 ? { domains: [...builtinDomains, ...extraDomains] } : {}),
  }).catch((err: unknown) => {
    server.close(); // a failed start must not leave the port held (eventide serve runs in-process)
    throw err;
  });
  const { runtime, views } = eventide;

  // The video pipeline: checks ffmpeg now (a missing or broken binary stops start-up with a clear
  // message), then resumes from the log whatever encodes it says are unfinished (in cluster mode: those
  // of the partitions this node serves, and later those of partitions it takes over).
  const pipeline = await createVideoPipeline({
    runtime,
    maxJobs: intEnv('VIDEO_JOBS', 4, 1, 64)!,
    maxUploadBytes: intEnv('VIDEO_MAX_UPLOAD_BYTES', DEFAULT_MAX_UPLOAD_BYTES, 1, Number.MAX_SAFE_INTEGER)!,
    ...videoLimitsFromEnv(env),
    // Cluster mode: sources and renditions in JetStream's object store, as many copies as the log's.
    ...(cluster
      ? {
          objectStore: {
            servers: typeof cluster.servers === 'string' ? [cluster.servers] : cluster.servers,
            bucket: videoBucketOf(cluster.group),
            replicas: cluster.replicas ?? 1,
            maxLocalBytes: intEnv('VIDEO_CACHE_MAX_BYTES', DEFAULT_MAX_LOCAL_BYTES, 0, Number.MAX_SAFE_INTEGER)!,
            minFreeBytes: intEnv('VIDEO_CACHE_MIN_FREE_BYTES', DEFAULT_MIN_FREE_BYTES, 0, Number.MAX_SAFE_INTEGER)!,
          },
        }
      : {}),
    logger: log,
  }).catch(async (err: unknown) => {
    server.close();
    await eventide.close();
    throw err;
  });
  const plugins: ServerPlugin[] = [videoRoutes({ runtime, pipeline })];
  const stopPipeline = (): Promise<void> => pipeline.close();

  const app = await buildServer({
    runtime,
    views,
    serverFactory: (handler) => {
      fastifyHandler = handler;
      return server;
    },
    plugins,
    security,
    loggerInstance: log,
    ...(allowedHosts !== undefined ? { allowedHosts } : {}),
    ...(origins ? { feed: { allowedOrigins: origins === '*' ? '*' : origins.split(',').map((o) => o.trim()).filter(Boolean) } } : {}),
  });

  server.off('clientError', clientErrorHandler); // fastify's (the same handler, with its logger) is on now

  // Shutdown, in the order of the header. Idempotent: a second call waits for the first.
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      // The server was not started by app.listen, so fastify will not close it: stop accepting here.
      server.close();
      await app.close();
      server.closeAllConnections();
      await stopPipeline();
      await eventide.close();
      log.info('stopped');
    })());

  if (options.signals !== false) {
    const onSignal = (signal: string): void => {
      if (closing) {
        log.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      log.info({ signal }, 'shutting down');
      setTimeout(() => {
        log.error({ timeoutMs: shutdownTimeoutMs }, 'shutdown took too long: exiting');
        process.exit(1);
      }, shutdownTimeoutMs).unref();
      close().then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ code: codeOf(err), err }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', () => onSignal('SIGTERM'));
    process.on('SIGINT', () => onSignal('SIGINT'));
  }

  await app.ready();
  handle = fastifyHandler!;
  const url = urlOf(server);
  log.info({ url, dataDir: runtime.dataDir, partitions: runtime.partitionCount, workers: runtime.workerCount, ...(runtime.cluster ? { node: runtime.cluster.nodeId } : {}) }, `eventide listening on ${url}`);
  return { url, log, close };
}

function portOf(server: Server): number {
  const a = server.address();
  return typeof a === 'object' && a ? a.port : 0;
}

/** 0.0.0.0 or :: : an address to listen on, not one another member could use. */
function isUnspecified(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]';
}

function urlOf(server: Server): string {
  const a = server.address();
  return typeof a === 'object' && a ? `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : String(a);
}
