/**
 * `npm start`: the server on an embedded default. Environment:
 *   DATA_DIR   where the event log lives (default ./data)
 *   PORT       default 3000 (0 picks a free port; the chosen URL is logged)
 *   HOST       default 127.0.0.1 (set 0.0.0.0 to listen on every interface)
 *   PARTITIONS partition count for a NEW data dir (default 16; an existing one keeps its own)
 *   WORKERS    actor worker threads (default: CPU count, at most PARTITIONS)
 *   FEED_ORIGINS extra origins allowed to open /feed (comma-separated, or *); same origin always is
 *   LOG_LEVEL  pino level (default info; warn hides the per-request lines)
 *   VIDEO_JOBS concurrent encodes (default 4); VIDEO_MAX_UPLOAD_BYTES (default 2 GiB)
 *   FFMPEG_PATH / FFPROBE_PATH  other ffmpeg binaries than the npm-installed ones
 *   BACKUP_DIR where POST /admin/backup writes named backups (default <DATA_DIR>/../backups)
 *
 * Shutdown on SIGTERM/SIGINT, in this order: stop accepting (new connections are refused, requests on open
 * keep-alive connections get 503), let in-flight commands finish (each is answered only once durable), close
 * feed clients with 1001, then close the runtime (workers drain and close LMDB), then exit 0. A second
 * signal, or a shutdown taking longer than SHUTDOWN_TIMEOUT_MS (default 15 000), exits 1 at once: acknowledged
 * commands are durable anyway; only unanswered ones may be lost, and their clients saw no 2xx.
 */
import { createServer, type RequestListener } from 'node:http';
import { createRuntime, type Runtime } from '../runtime/index.js';
import { DEFAULT_MAX_UPLOAD_BYTES, createVideoPipeline } from '../video/index.js';
import { buildServer, type ServerPlugin } from './app.js';
import { videoRoutes } from './routes/videos.js';

function intEnv(name: string, fallback: number | undefined, min: number, max: number): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(raw)}`);
  return n;
}

async function main(): Promise<void> {
  const dataDir = process.env.DATA_DIR || './data';
  const port = intEnv('PORT', 3000, 0, 65_535)!;
  const host = process.env.HOST || '127.0.0.1';
  const partitions = intEnv('PARTITIONS', undefined, 1, 65_536);
  const workers = intEnv('WORKERS', undefined, 1, 256);
  const shutdownTimeoutMs = intEnv('SHUTDOWN_TIMEOUT_MS', 15_000, 100, 600_000)!;
  const origins = process.env.FEED_ORIGINS?.trim();

  // Listen first and answer 503 "starting" until the runtime is open (replaying a big log takes a
  // moment); then the same server is handed to fastify, so there is no window of refused connections.
  let handle: RequestListener = (_req, res) => {
    res.writeHead(503, { 'content-type': 'application/json; charset=utf-8', 'retry-after': '1', connection: 'close' });
    res.end(JSON.stringify({ error: 'Unavailable', message: 'the server is starting', status: 'starting' }));
  };
  let fastifyHandler: RequestListener | undefined;
  const server = createServer((req, res) => handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host }, () => {
      server.off('error', reject);
      resolve();
    });
  });

  // Before the logger exists: one pino-shaped line, so tools (and tests) learn the URL while starting.
  const boot = server.address();
  const bootUrl = typeof boot === 'object' && boot ? `http://${boot.family === 'IPv6' ? `[${boot.address}]` : boot.address}:${boot.port}` : String(boot);
  process.stdout.write(`${JSON.stringify({ level: 30, time: Date.now(), msg: 'eventide starting: 503 until the runtime is open', url: bootUrl })}\n`);

  const runtime: Runtime = await createRuntime({
    dataDir,
    ...(partitions !== undefined ? { partitions } : {}),
    ...(workers !== undefined ? { workers } : {}),
  });

  // The video pipeline: checks ffmpeg now (a missing or broken binary stops start-up with a clear
  // message), then resumes from the log whatever encodes it says are unfinished.
  const pipeline = await createVideoPipeline({
    runtime,
    maxJobs: intEnv('VIDEO_JOBS', 4, 1, 64)!,
    maxUploadBytes: intEnv('VIDEO_MAX_UPLOAD_BYTES', DEFAULT_MAX_UPLOAD_BYTES, 1, Number.MAX_SAFE_INTEGER)!,
  }).catch(async (err: unknown) => {
    await runtime.close();
    throw err;
  });
  const plugins: ServerPlugin[] = [videoRoutes({ runtime, pipeline })];
  const stopPipeline = (): Promise<void> => pipeline.close();

  const app = await buildServer({
    runtime,
    serverFactory: (handler) => {
      fastifyHandler = handler;
      return server;
    },
    plugins,
    logger: { level: process.env.LOG_LEVEL || 'info' },
    ...(origins ? { feed: { allowedOrigins: origins === '*' ? '*' : origins.split(',').map((o) => o.trim()).filter(Boolean) } } : {}),
  });

  pipeline.setLogger(app.log);

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) {
      app.log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    app.log.info({ signal }, 'shutting down');
    setTimeout(() => {
      app.log.error({ timeoutMs: shutdownTimeoutMs }, 'shutdown took too long: exiting');
      process.exit(1);
    }, shutdownTimeoutMs).unref();
    try {
      // The server was not started by app.listen, so fastify will not close it: stop accepting here.
      server.close();
      await app.close();
      server.closeAllConnections();
      await stopPipeline();
      await runtime.close();
      app.log.info('stopped');
      process.exit(0);
    } catch (err) {
      app.log.error({ err }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  await app.ready();
  handle = fastifyHandler!;
  const address = server.address();
  const url = typeof address === 'object' && address ? `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}` : String(address);
  app.log.info({ url, dataDir: runtime.dataDir, partitions: runtime.partitionCount, workers: runtime.workerCount }, `eventide listening on ${url}`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? `${err.name}: ${err.message}` : err);
  process.exit(1);
});
