/**
 * `createVideoPipeline(...)`: the video feature as one object for the server (and for embedded use).
 * It checks ffmpeg at start-up, takes uploads, and owns the encode pool, the reactor and the status
 * index. Options are validated and filled once, here.
 *
 * Uploads: the id is made here, the bytes are streamed to `videos/<id>/source` (size-capped, hashed,
 * fsynced, renamed), probed (its duration is the client's quota cost, see encode-admission.ts), and
 * only then is `VideoUploaded` appended; if the append or the quota refuses it the file is deleted, so
 * the disk never holds an upload the log does not know.
 *
 * Cluster mode (`objectStore`, and a runtime that is a cluster node): the files live in JetStream's
 * object store (blob-store.ts), the data dir being this server's cache of it. An upload arriving at any
 * server is given an id whose partition that server serves, so the server that took the bytes records
 * `VideoUploaded` itself and its reactor encodes it (the source is already on its disk). Why not an id
 * of any partition, forwarded to its owner: `Upload` carries a server-made path and is an internal
 * command, which forwarding never carries (invariant 11; cluster-routing.ts), and the quota the upload
 * was admitted under is this server's. The source goes to the object store before `VideoUploaded` is
 * recorded; a server that serves no partition (joining, or every one changing hands) answers 503
 * `NotOwner`, as does one whose partition moved during the upload (nothing is kept then).
 */
import type { Readable } from 'node:stream';
import type { VideoState, VideoStatus } from '../domain/index.js';
import { ErrorCodes, RuntimeError, errors, systemClock, type Clock, type EventEnvelope } from '../kernel/index.js';
import { partitionOf } from '../partition/index.js';
import type { ExecuteResult, LoadResult, Runtime } from '../runtime/index.js';
import { localBlobs, openObjectStoreBlobs, type ObjectStoreOptions, type VideoBlobStore } from './blob-store.js';
import { resolveFfmpegBinaries, verifyFfmpegBinaries, type FfmpegBinaries, type FfmpegVersions } from './ffmpeg-binaries.js';
import { EncodeAdmission } from './encode-admission.js';
import { encodeLimitSec, resolveEncodeSettings, type EncodeSettings } from './media-policy.js';
import { EncodePool } from './pool.js';
import { VideoReactor, silentLogger, type VideoLogger, type VideoPlacement } from './reactor.js';
import { probeSource } from './source-probe.js';
import { VideoStatusIndex } from './status-index.js';
import { VideoStorage } from './storage.js';

export const DEFAULT_MAX_UPLOAD_BYTES = 2 * 1024 ** 3;

/**
 * The media types an upload may be sent as (the HTTP route refuses others with 415). None is a CORS
 * "simple" type, so a web page cannot upload cross-site without a preflight.
 */
export const ACCEPTED_UPLOAD_TYPE = /^(?:application\/octet-stream|video\/[a-z0-9][a-z0-9.+-]{0,60})$/;

export interface VideoPipelineOptions {
  runtime: Runtime;
  /** Encodes running at once (pool threads; default 4). */
  maxJobs?: number;
  /** Attempts per video, counting the first (default 3). */
  maxAttempts?: number;
  /** Largest upload accepted, in bytes (default 2 GiB). */
  maxUploadBytes?: number;
  /** Wait before retrying a retriable failure (default 2 000 ms). */
  retryDelayMs?: number;
  /** ffprobe gets this long to describe an upload (default 30 000 ms). */
  probeTimeoutMs?: number;
  /** Videos queued or encoding, uploads in progress included; more get 503 `Overloaded` (default 100). */
  maxQueuedVideos?: number;
  /** Encode seconds one client may have queued or encoding; more get 429 `QuotaExceeded` (default 43 200 = 12 h). */
  maxQueuedSecondsPerClient?: number;
  encode?: Partial<EncodeSettings>;
  /** Default: `FFMPEG_PATH`/`FFPROBE_PATH`, else the npm-installed binaries. */
  binaries?: FfmpegBinaries;
  logger?: VideoLogger;
  /** Where the time in new video ids comes from (default: the system clock). */
  clock?: Clock;
  /**
   * Cluster mode: the object store holding the sources and renditions (the header says how uploads and
   * encodes are placed then). Needs a runtime that is a cluster node. Absent: the data dir alone.
   */
  objectStore?: ObjectStoreOptions;
}

export interface UploadResult {
  id: string;
  status: 'UPLOADED';
  bytes: number;
  sha256: string;
  version: number;
}

export interface VideoListPage {
  videos: Array<LoadResult<VideoState>>;
  /** Pass as `after` for the next page; null on the last page. */
  next: string | null;
}

export interface VideoPipelineStats {
  maxJobs: number;
  /** Encode tasks running in pool threads now, and the most that ever ran at once. */
  running: number;
  maxConcurrentJobs: number;
  active: number;
  waiting: number;
  retrying: number;
  /** Videos counted against `maxQueuedVideos` (queued, encoding, or being uploaded). */
  queued: number;
  maxQueuedVideos: number;
  byStatus: Record<VideoStatus, number>;
}

export interface VideoPipeline {
  readonly storage: VideoStorage;
  /** Where the files live beyond the data dir: `local` (none) or `jetstream` (the object store). */
  readonly blobs: VideoBlobStore;
  readonly maxUploadBytes: number;
  readonly settings: EncodeSettings;
  readonly versions: FfmpegVersions;
  /**
   * Streams `body` to disk and records `VideoUploaded`. `declaredBytes` (Content-Length) fails fast.
   * `client` keys the quota of queued encode seconds (the HTTP route passes the remote address).
   */
  upload(body: Readable, meta?: { contentType?: string | undefined; declaredBytes?: number | undefined; client?: string | undefined }): Promise<UploadResult>;
  get(id: string): Promise<LoadResult<VideoState>>;
  /**
   * The absolute path of video `id`'s stored file `stored` (a path its events record) on this server,
   * fetched from the object store first when it is not here yet. `NotFound` for a path that is not one
   * of this video's, or a file neither has.
   */
  localFile(id: string, stored: string): Promise<string>;
  /** A page of the status index; each video read with `load` (default: this runtime's; cluster mode: also the owner's). */
  list(query?: { status?: VideoStatus; after?: string; limit?: number }, load?: (id: string) => Promise<LoadResult<VideoState>>): Promise<VideoListPage>;
  history(id: string, options?: { from?: number; limit?: number }): Promise<EventEnvelope[]>;
  /** Records `VideoCancelled`, then kills the running encode and waits until it stopped. */
  cancel(id: string, reason?: string): Promise<ExecuteResult<VideoState>>;
  stats(): VideoPipelineStats;
  /** Resolves when no encode runs, waits or is scheduled. */
  idle(): Promise<void>;
  /** Sends the pipeline's logs to `logger` from now on (e.g. the fastify app's `app.log`). */
  setLogger(logger: VideoLogger): void;
  /** Stops the encodes (their videos resume on the next start) and the pool. Does not close the runtime. */
  close(): Promise<void>;
}

export async function createVideoPipeline(options: VideoPipelineOptions): Promise<VideoPipeline> {
  const o = resolvePipelineOptions(options);
  const { runtime } = options;
  if (!runtime.decider('video')) throw new RuntimeError(ErrorCodes.InvalidOptions, 'the runtime has no video aggregate type; include the built-in video domain');
  const binaries = options.binaries ?? resolveFfmpegBinaries();
  if (o.settings.maxMemoryBytes > 0 && !binaries.prlimit) {
    throw new RuntimeError(ErrorCodes.InvalidOptions, 'the ffmpeg memory limit needs prlimit (util-linux) on PATH; install it, or turn the limit off with encode.maxMemoryBytes = 0 (VIDEO_FFMPEG_MAX_MEMORY_MB=0)');
  }
  const versions = await verifyFfmpegBinaries(binaries);
  const storage = new VideoStorage(runtime.dataDir);
  if (options.objectStore && !runtime.cluster) throw new RuntimeError(ErrorCodes.InvalidOptions, 'objectStore is for cluster mode: the runtime must be a cluster node');
  const placement = runtime.cluster ? clusterPlacement(runtime) : undefined;
  const logger = options.logger ?? silentLogger;
  // setLogger moves the copies' messages along with the reactor's.
  let current = logger;
  const log = (): VideoLogger => current;
  const blobs = options.objectStore
    ? await openObjectStoreBlobs(
        {
          onEvicted: (stored, size) => log().info({ stored, bytes: size }, 'local copy of a video file deleted (the cache is over its bound; the object store keeps it)'),
          onCopyError: (stored, err) => log().warn({ stored, err: err instanceof Error ? err.message : String(err) }, 'local copy of a video file kept: it could not be checked against the object store or deleted'),
          ...options.objectStore,
        },
        storage.dataDir,
      )
    : localBlobs;
  const pool = new EncodePool({ maxJobs: o.maxJobs });
  const index = new VideoStatusIndex();
  if (!versions.sameBuild) logger.warn({ ffmpeg: versions.ffmpeg, ffprobe: versions.ffprobe }, 'ffmpeg and ffprobe are different builds: the probe may judge a file otherwise than the encoder reads it');
  const reactor = new VideoReactor({ runtime, storage, pool, index, binaries, settings: o.settings, maxAttempts: o.maxAttempts, retryDelayMs: o.retryDelayMs, probeTimeoutMs: o.probeTimeoutMs, logger, blobs, ...(placement ? { placement } : {}) });
  try {
    await reactor.start();
  } catch (err) {
    await reactor.close();
    await pool.close();
    await blobs.close();
    throw err;
  }
  const admission = new EncodeAdmission(o, () => {
    const r = reactor.stats();
    return r.active + r.waiting + r.retrying;
  });
  // A video's quota is given back when the log says its encoding is over.
  const unsubscribe = runtime.subscribe((events) => {
    for (const e of events) {
      if (e.aggregateType !== 'video') continue;
      const over = e.type === 'VideoProcessingSucceeded' || e.type === 'VideoCancelled' || (e.type === 'VideoProcessingFailed' && (e.data as { retriable?: unknown }).retriable !== true);
      if (over) admission.release(e.stream);
    }
  });
  let closed: Promise<void> | null = null;

  /** A new video's id: in cluster mode, one of a partition this server serves (see the header). */
  const newId = (): string => {
    if (!placement) return VideoStorage.newVideoId(o.clock.now());
    const served = placement.servedPartitions();
    if (served.size === 0) throw new RuntimeError(ErrorCodes.NotOwner, 'this server serves no partition now (it is joining the group, or its partitions are changing hands): retry later', { retryAfterMs: 1000 }, true);
    // Each try lands on a served partition with probability served/P: at least 1/P.
    for (let tries = 0; ; tries++) {
      const id = VideoStorage.newVideoId(o.clock.now());
      if (served.has(placement.partitionOf(id)) || tries > 64 * runtime.partitionCount) return id;
    }
  };

  return {
    storage,
    blobs,
    maxUploadBytes: o.maxUploadBytes,
    settings: o.settings,
    versions,

    async upload(body, meta = {}) {
      if (meta.declaredBytes !== undefined && meta.declaredBytes > o.maxUploadBytes) {
        body.destroy();
        throw tooLarge(o.maxUploadBytes);
      }
      const client = meta.client ?? 'local';
      let endUpload: () => void;
      try {
        endUpload = admission.beginUpload(client);
      } catch (err) {
        body.destroy();
        throw err;
      }
      let id: string;
      try {
        id = newId();
      } catch (err) {
        endUpload();
        body.destroy();
        throw err;
      }
      try {
        const received = await storage.receiveUpload(id, body, o.maxUploadBytes);
        const contentType = mediaType(meta.contentType);
        try {
          const probed = await probeSource({ binaries, settings: o.settings, source: storage.absolute(id, received.path), dataDir: storage.dataDir, timeoutMs: o.probeTimeoutMs });
          admission.admit(id, client, probed.kind === 'ok' ? encodeLimitSec(probed.source.durationSec) : 0);
          await blobs.publish(received.path, storage.absolute(id, received.path));
          const r = await runtime.execute('video', id, { type: 'Upload', data: { ...received, ...(contentType ? { contentType } : {}) } }, { expectedVersion: 0 });
          return { id, status: 'UPLOADED', bytes: received.bytes, sha256: received.sha256, version: r.version };
        } catch (err) {
          admission.release(id);
          await storage.removeVideo(id);
          await blobs.removeVideo(id).catch((cause: unknown) => logger.warn({ id, err: cause instanceof Error ? cause.message : String(cause) }, 'a refused upload\'s source stays in the object store'));
          throw err;
        }
      } finally {
        endUpload();
      }
    },

    get: (id) => runtime.load<VideoState>('video', id),

    async localFile(id, stored) {
      const file = storage.absolute(id, stored);
      if (!(await blobs.fetch(stored, file))) throw new RuntimeError(ErrorCodes.NotFound, 'the file is missing from the video store', { id });
      return file;
    },

    async list(q = {}, load = (id: string) => runtime.load<VideoState>('video', id)) {
      const limit = q.limit ?? 50;
      const page = index.list({ limit, ...(q.status !== undefined ? { status: q.status } : {}), ...(q.after !== undefined ? { after: q.after } : {}) });
      const videos = await Promise.all(page.ids.map(load));
      return { videos, next: page.more ? (page.ids[page.ids.length - 1] ?? null) : null };
    },

    history: (id, opts = {}) => runtime.history('video', id, opts),

    async cancel(id, reason) {
      // The decider's `VideoNotUploaded` (a stream with no upload) means: no such video, 404.
      const r = await runtime.execute<VideoState>('video', id, { type: 'Cancel', data: reason !== undefined ? { reason } : {} }).catch((err: unknown) => {
        throw RuntimeError.is(err, 'VideoNotUploaded') ? errors.streamNotFound('video', id) : err;
      });
      await reactor.stopLocal(id);
      return r;
    },

    stats() {
      return { maxJobs: o.maxJobs, running: pool.running, maxConcurrentJobs: pool.maxObservedRunning, ...reactor.stats(), queued: admission.queued, maxQueuedVideos: o.maxQueuedVideos, byStatus: index.counts() };
    },

    idle: () => reactor.idle(),

    setLogger(l) {
      current = l;
      reactor.logger = l;
    },

    close() {
      closed ??= (async () => {
        unsubscribe();
        await reactor.close();
        await pool.close();
        await blobs.close();
      })();
      return closed;
    },
  };
}

/** Cluster mode: the partitions this node serves, as the runtime says now. */
function clusterPlacement(runtime: Runtime): VideoPlacement {
  const P = runtime.partitionCount;
  return {
    servedPartitions: () => new Set(runtime.partitions().flatMap((p) => (p.served === true ? [p.partition] : []))),
    partitionOf: (id) => partitionOf(id, P),
  };
}

function resolvePipelineOptions(o: VideoPipelineOptions) {
  const int = (name: string, v: number | undefined, min: number, max: number, dflt: number): number => {
    if (v === undefined) return dflt;
    if (!Number.isSafeInteger(v) || v < min || v > max) throw new RuntimeError(ErrorCodes.InvalidOptions, `${name} must be an integer in [${min}, ${max}], got ${v}`);
    return v;
  };
  let settings: EncodeSettings;
  try {
    settings = resolveEncodeSettings(o.encode);
  } catch (err) {
    throw new RuntimeError(ErrorCodes.InvalidOptions, `encode.${(err as Error).message}`);
  }
  return {
    maxJobs: int('maxJobs', o.maxJobs, 1, 64, 4),
    maxAttempts: int('maxAttempts', o.maxAttempts, 1, 100, 3),
    maxUploadBytes: int('maxUploadBytes', o.maxUploadBytes, 1, Number.MAX_SAFE_INTEGER, DEFAULT_MAX_UPLOAD_BYTES),
    retryDelayMs: int('retryDelayMs', o.retryDelayMs, 0, 3_600_000, 2000),
    probeTimeoutMs: int('probeTimeoutMs', o.probeTimeoutMs, 100, 600_000, 30_000),
    maxQueuedVideos: int('maxQueuedVideos', o.maxQueuedVideos, 1, 1_000_000, 100),
    maxQueuedSecondsPerClient: int('maxQueuedSecondsPerClient', o.maxQueuedSecondsPerClient, 1, Number.MAX_SAFE_INTEGER, 12 * 3600),
    settings,
    clock: o.clock ?? systemClock,
  };
}

export function tooLarge(limit: number): RuntimeError {
  return new RuntimeError(ErrorCodes.PayloadTooLarge, `the upload exceeds the ${limit}-byte limit`, { limit });
}

/**
 * The declared Content-Type, recorded as metadata only when it is one of the accepted upload types
 * (normalised, parameters dropped). It is never used to serve a file: renditions are `video/mp4` and
 * thumbnails `image/jpeg`, whatever an upload claimed.
 */
function mediaType(ct: string | undefined): string | undefined {
  const t = ct?.split(';', 1)[0]?.trim().toLowerCase();
  return t && ACCEPTED_UPLOAD_TYPE.test(t) ? t : undefined;
}
