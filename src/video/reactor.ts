/**
 * The video reactor (a process manager): it turns what the log says into encode jobs, and each job's
 * outcome back into events (DESIGN invariant 7). It holds no status of its own that matters: after a
 * crash, the log alone says what to resume.
 *
 * - `VideoUploaded` (live, or found by the start-up scan) -> attempt 1.
 * - A PROCESSING video with no job running here is an attempt that never finished (the process died
 *   mid-encode) -> attempt n+1, up to `maxAttempts`; at the limit it is failed for good.
 * - A retriable `VideoProcessingFailed` -> attempt n+1 after `retryDelayMs`, up to `maxAttempts`.
 *   A failure about the input (not media, not allowed) is `retriable: false` and never retried.
 * - `VideoCancelled` -> the running ffmpeg is killed; nothing more is recorded for that attempt.
 *
 * Cluster mode (`placement`): each server's reactor drives the videos of the partitions it serves, and
 * only those, since only the owner may append to them. It checks which those are every
 * `OWNERSHIP_POLL_MS`: a partition it lost has its encodes here stopped (nothing recorded: the new owner
 * sees them PROCESSING, as after a crash), and one it gained is scanned as at start-up, so an encode
 * that was running on a server that died resumes on the partition's new owner (attempt n+1). The source
 * comes from the shared store (`blobs`, into the data dir) before ffmpeg runs, and every rendition and
 * the thumbnail go to it before the log records them (blob-store.ts).
 *
 * Concurrency: at most `maxJobs` videos are "active" (loading state, starting, encoding, recording the
 * outcome); the rest wait in a FIFO as UPLOADED (or orphaned PROCESSING) videos, which is exactly what
 * the log says of them. A video is never active twice, so its commands come from one place at a time,
 * and the decider's `attempt` check rejects anything stale should that ever break.
 *
 * Gotchas:
 * - `close()` kills running encodes and records nothing: their videos stay PROCESSING, and the next
 *   start gives them a new attempt. A graceful restart therefore uses up one attempt of each running
 *   video; `maxAttempts` (default 3) leaves room for that.
 * - Progress is coalesced: while one ReportProgress is in flight only the newest percent waits, so a
 *   slow log never builds a backlog of progress commands.
 */
import type { Rendition, VideoState } from '../domain/index.js';
import { DomainError, ErrorCodes, RuntimeError, type EventEnvelope } from '../kernel/index.js';
import type { Runtime } from '../runtime/index.js';
import type { EncodeOutcome } from './encode-protocol.js';
import type { FfmpegBinaries } from './ffmpeg-binaries.js';
import type { EncodeSettings } from './media-policy.js';
import type { VideoBlobStore } from './blob-store.js';
import type { EncodePool, RunningEncode } from './pool.js';
import type { VideoStatusIndex } from './status-index.js';
import { VideoStorage } from './storage.js';

export interface VideoLogger {
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}

export const silentLogger: VideoLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

export interface VideoReactorOptions {
  runtime: Runtime;
  storage: VideoStorage;
  pool: EncodePool;
  index: VideoStatusIndex;
  binaries: FfmpegBinaries;
  settings: EncodeSettings;
  maxAttempts: number;
  retryDelayMs: number;
  probeTimeoutMs: number;
  logger: VideoLogger;
  /** Where the files go beyond the data dir (the object store in cluster mode). */
  blobs: VideoBlobStore;
  /** Cluster mode: which videos this server drives. Absent: all of them (the embedded server). */
  placement?: VideoPlacement;
}

/** Cluster mode: the partitions this server serves now, and a video's partition. */
export interface VideoPlacement {
  servedPartitions(): ReadonlySet<number>;
  partitionOf(id: string): number;
}

/** How often a cluster node's reactor checks which partitions it serves (see the header). */
export const OWNERSHIP_POLL_MS = 500;

export type Plan = { kind: 'none' } | { kind: 'start'; attempt: number } | { kind: 'give-up'; attempt: number; reason: string };

/**
 * What to do next with a video no job is running for, from its state alone. Pure, so the recovery
 * rules are a table in the tests.
 */
export function planNext(state: VideoState, maxAttempts: number): Plan {
  switch (state.status) {
    case 'UPLOADED':
      return { kind: 'start', attempt: state.attempt + 1 };
    case 'PROCESSING':
      if (state.attempt < maxAttempts) return { kind: 'start', attempt: state.attempt + 1 };
      return { kind: 'give-up', attempt: state.attempt, reason: `attempt ${state.attempt} never finished (the server stopped during the encode); giving up after ${maxAttempts} attempts` };
    case 'FAILED':
      return state.error?.retriable === true && state.attempt < maxAttempts ? { kind: 'start', attempt: state.attempt + 1 } : { kind: 'none' };
    case 'NEW':
    case 'SUCCEEDED':
    case 'CANCELLED':
      return { kind: 'none' };
  }
}

interface Active {
  job: RunningEncode | null;
  cancelled: boolean;
  done: Promise<void>;
}

const SCAN_CONCURRENCY = 16;

export class VideoReactor {
  #o: VideoReactorOptions;
  /** Videos waiting for a slot, oldest first (a Set keeps insertion order and drops duplicates). */
  #waiting = new Set<string>();
  #active = new Map<string, Active>();
  #retryTimers = new Map<string, NodeJS.Timeout>();
  #idleWaiters: Array<() => void> = [];
  #unsubscribe: (() => void) | null = null;
  #closing = false;
  /** Cluster mode: the partitions served as of the last check (null: every video is this server's). */
  #served: ReadonlySet<number> | null = null;
  #ownershipTimer: NodeJS.Timeout | undefined;
  /** The ownership check in progress (one at a time). */
  #ownershipCheck: Promise<void> = Promise.resolve();

  constructor(options: VideoReactorOptions) {
    this.#o = { ...options };
  }

  /** The server's logger exists only after the pipeline it serves was created; it can be set later. */
  set logger(logger: VideoLogger) {
    this.#o.logger = logger;
  }

  /** Subscribes first, then scans the log, so no video falls between the scan and the live events. */
  async start(): Promise<void> {
    const { placement } = this.#o;
    if (placement) this.#served = new Set(placement.servedPartitions());
    this.#unsubscribe = this.#o.runtime.subscribe((events) => this.#onCommitted(events));
    await this.#scan(null, 'video resumed after a restart');
    if (placement) {
      this.#ownershipTimer = setInterval(() => {
        this.#ownershipCheck = this.#ownershipCheck.then(() => this.#checkOwnership()).catch((err: unknown) => this.#o.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'video ownership check failed'));
      }, OWNERSHIP_POLL_MS);
      this.#ownershipTimer.unref();
    }
  }

  /** True when this server drives video `id` (always on the embedded server). */
  #mine(id: string): boolean {
    return this.#served === null || this.#served.has(this.#o.placement!.partitionOf(id));
  }

  /**
   * Cluster mode: stops the encodes of partitions this server no longer serves, and scans those it
   * has gained for videos to resume.
   */
  async #checkOwnership(): Promise<void> {
    const { placement } = this.#o;
    if (!placement || this.#closing) return;
    const before = this.#served ?? new Set<number>();
    const now = new Set(placement.servedPartitions());
    this.#served = now;
    const lost = [...before].filter((p) => !now.has(p));
    const gained = new Set([...now].filter((p) => !before.has(p)));
    if (lost.length > 0) {
      const gone = new Set(lost);
      const ids = [...this.#active.keys(), ...this.#waiting, ...this.#retryTimers.keys()].filter((id) => gone.has(placement.partitionOf(id)));
      if (ids.length > 0) this.#o.logger.info({ partitions: lost, videos: ids }, 'video partitions moved to another server: their encodes here are stopped, the new owner resumes them');
      await Promise.all(ids.map((id) => this.stopLocal(id)));
    }
    if (gained.size > 0) await this.#scan(gained, 'video resumed on its partition\'s new owner');
  }

  /**
   * Indexes the videos of the log (of `partitions`, or all) and queues those this server drives and
   * whose state asks for work. Videos of partitions another server serves are indexed from this
   * server's copy of their events (their owner drives them).
   */
  async #scan(partitions: ReadonlySet<number> | null, resumedMessage: string): Promise<void> {
    const { placement } = this.#o;
    this.#o.runtime.log.refreshReads();
    // Damage in the log (a damaged record, a page LMDB reports) must not keep the server from starting:
    // the videos it hides are reported and left alone; their partitions stop on first use (invariant 8).
    const ids: string[] = [];
    try {
      for (const id of this.#o.runtime.log.iterateStreamIds('video')) if (partitions === null || partitions.has(placement!.partitionOf(id))) ids.push(id);
    } catch (err) {
      if (!isDamage(err)) throw err;
      this.#o.logger.error({ code: err.code, err: err.message, scanned: ids.length }, 'the video scan met damage in the log: later videos are not resumed until it is repaired (eventide verify)');
    }
    let next = 0;
    let resumed = 0;
    const worker = async (): Promise<void> => {
      while (next < ids.length && !this.#closing) {
        const id = ids[next++]!;
        if (!this.#mine(id)) {
          this.#indexFromLog(id);
          continue;
        }
        let loaded: { state: VideoState; version: number };
        try {
          loaded = await this.#o.runtime.load<VideoState>('video', id);
        } catch (err) {
          // A partition that moved on since the check: its new owner scans it.
          if (RuntimeError.is(err, ErrorCodes.NotOwner)) continue;
          if (!isDamage(err)) throw err;
          this.#o.logger.error({ id, code: err.code, err: err.message }, 'video not resumed: its stream is damaged');
          continue;
        }
        this.#o.index.set(id, loaded.state.status, loaded.version);
        const plan = planNext(loaded.state, this.#o.maxAttempts);
        if (plan.kind === 'none') continue;
        // An operator who restarted a server wants to see that the encodes it had pending go on.
        this.#o.logger.info({ id, status: loaded.state.status, attempt: loaded.state.attempt, next: plan.kind }, resumedMessage);
        resumed++;
        this.#enqueue(id);
      }
    };
    await Promise.all(Array.from({ length: Math.min(SCAN_CONCURRENCY, ids.length) }, worker));
    if (ids.length > 0) this.#o.logger.info({ videos: ids.length, resumed, ...(partitions ? { partitions: [...partitions] } : {}) }, 'video scan done');
  }

  /** The index entry of a video another server drives, from this server's copy of its events. */
  #indexFromLog(id: string): void {
    try {
      for (const e of this.#o.runtime.log.iterateStream('video', id)) this.#o.index.apply(e);
    } catch (err) {
      if (!isDamage(err)) throw err;
      this.#o.logger.error({ id, code: err.code, err: err.message }, 'video not indexed: its stream is damaged');
    }
  }

  /** Kills the encode of `id` if one runs here and waits until it has stopped. */
  async stopLocal(id: string): Promise<void> {
    this.#waiting.delete(id);
    clearTimeout(this.#retryTimers.get(id));
    if (this.#retryTimers.delete(id)) this.#notifyIdle();
    const a = this.#active.get(id);
    if (!a) return;
    a.cancelled = true;
    a.job?.cancel();
    await a.done;
  }

  stats(): { active: number; waiting: number; retrying: number } {
    return { active: this.#active.size, waiting: this.#waiting.size, retrying: this.#retryTimers.size };
  }

  /** Resolves when nothing is running, waiting or scheduled for a retry. */
  idle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  async close(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#ownershipTimer);
    await this.#ownershipCheck;
    this.#unsubscribe?.();
    this.#waiting.clear();
    for (const t of this.#retryTimers.values()) clearTimeout(t);
    this.#retryTimers.clear();
    const running = [...this.#active.values()];
    for (const a of running) a.job?.cancel();
    await Promise.all(running.map((a) => a.done));
    this.#notifyIdle();
  }

  #onCommitted(events: EventEnvelope[]): void {
    for (const e of events) {
      if (e.aggregateType !== 'video') continue;
      this.#o.index.apply(e);
      if (!this.#mine(e.stream)) {
        // Another server drives it; a cancel still stops an encode left here by a partition that moved.
        if (e.type === 'VideoCancelled') void this.stopLocal(e.stream);
        continue;
      }
      if (e.type === 'VideoUploaded') this.#enqueue(e.stream);
      else if (e.type === 'VideoCancelled') void this.stopLocal(e.stream);
      // A failure recorded by someone else; our own jobs' failures are retried by #dispatch.
      else if (e.type === 'VideoProcessingFailed' && (e.data as { retriable?: boolean }).retriable === true && !this.#active.has(e.stream)) this.#enqueue(e.stream);
    }
  }

  #enqueue(id: string): void {
    if (this.#closing || !this.#mine(id) || this.#active.has(id) || this.#waiting.has(id) || this.#retryTimers.has(id)) return;
    this.#waiting.add(id);
    this.#pump();
  }

  #pump(): void {
    while (!this.#closing && this.#active.size < this.#o.pool.maxJobs && this.#waiting.size > 0) {
      const id = this.#waiting.values().next().value as string;
      this.#waiting.delete(id);
      let finished!: () => void;
      const active: Active = { job: null, cancelled: false, done: new Promise<void>((r) => (finished = r)) };
      this.#active.set(id, active);
      void this.#dispatch(id, active).finally(() => {
        this.#active.delete(id);
        finished();
        this.#pump();
        this.#notifyIdle();
      });
    }
  }

  /** One step for one video: load it, plan, and run the attempt the plan asks for to its recorded end. */
  async #dispatch(id: string, active: Active): Promise<void> {
    const { runtime, storage, logger } = this.#o;
    let retry = false;
    let release = (): void => undefined;
    try {
      const { state } = await runtime.load<VideoState>('video', id);
      const plan = planNext(state, this.#o.maxAttempts);
      if (plan.kind === 'none' || active.cancelled || this.#closing) return;
      if (plan.kind === 'give-up') {
        await this.#fail(id, plan.attempt, plan.reason, false);
        return;
      }
      const attempt = plan.attempt;
      const sourcePath = state.source?.path ?? '';
      if (VideoStorage.isManagedId(id)) {
        const killed = await storage.reapAttempts(id, attempt);
        if (killed.length > 0) logger.warn({ id, pids: killed }, 'killed ffmpeg left running by an earlier process');
      }
      // Cluster mode: the source into the data dir before the attempt is recorded (a store that cannot
      // answer now costs a retry, not an attempt), and held there until the attempt ends (the data dir's
      // copies are bounded: blob-store.ts). An unmanaged path is left to the job, which refuses it.
      if (storage.isManagedSource(id, sourcePath)) release = this.#o.blobs.hold(storage.absolute(id, sourcePath));
      if (storage.isManagedSource(id, sourcePath) && !(await this.#o.blobs.fetch(sourcePath, storage.absolute(id, sourcePath)))) {
        await this.#fail(id, attempt, 'the source file is missing from the video store', false);
        return;
      }
      await runtime.execute('video', id, { type: 'StartProcessing', data: { attempt } });
      logger.info({ id, attempt }, 'video processing started');
      // The attempt before this one may have published renditions (cluster mode): the log no longer
      // refers to them now. Best effort: one left behind is only space.
      const replaced = state.renditions.map((r) => r.path);
      if (replaced.length > 0) await this.#o.blobs.removeFiles(replaced).catch((err: unknown) => logger.warn({ id, err: err instanceof Error ? err.message : String(err) }, 'renditions of an earlier attempt stay in the object store'));
      if (active.cancelled || this.#closing) return;
      const outcome = await this.#encode(id, attempt, sourcePath, active);
      if (outcome.kind === 'cancelled' || active.cancelled) return;
      if (outcome.kind === 'succeeded') {
        for (const r of outcome.renditions) await this.#completeRendition(id, attempt, r);
        if (outcome.thumbnail) await this.#o.blobs.publish(outcome.thumbnail, storage.absolute(id, outcome.thumbnail));
        await runtime.execute('video', id, { type: 'Succeed', data: { attempt, ...(outcome.thumbnail ? { thumbnail: outcome.thumbnail } : {}) } });
        logger.info({ id, attempt, renditions: outcome.renditions.map((r) => r.height) }, 'video processing succeeded');
        return;
      }
      const last = attempt >= this.#o.maxAttempts;
      const reason = outcome.retriable && last ? `${outcome.reason} (attempt ${attempt} of ${this.#o.maxAttempts}; giving up)` : outcome.reason;
      retry = outcome.retriable && !last;
      await this.#fail(id, attempt, reason, retry);
    } catch (err) {
      if (DomainError.isDomain(err)) {
        // A cancel (or another writer) got there first; the log has the final word.
        logger.info({ id, code: (err as RuntimeError).code }, 'video step refused by the log');
      } else if (RuntimeError.is(err, ErrorCodes.NotOwner)) {
        // Cluster mode: the partition moved; its new owner resumes the video from the log.
        logger.info({ id }, 'video step refused: its partition moved to another server');
      } else if (!this.#closing) {
        logger.error({ id, err: err instanceof Error ? err.message : String(err) }, 'video step failed');
        retry = RuntimeError.is(err) && err.retriable;
      }
    } finally {
      release();
      if (retry && !this.#closing) this.#scheduleRetry(id);
    }
  }

  /** Runs the encode in the pool, recording progress and renditions as they come, in order. */
  async #encode(id: string, attempt: number, sourcePath: string, active: Active): Promise<EncodeOutcome> {
    const { runtime, logger } = this.#o;
    let chain: Promise<void> = Promise.resolve();
    let pendingPercent: number | null = null;
    const record = (step: () => Promise<unknown>): void => {
      chain = chain.then(step).then(
        () => undefined,
        (err: unknown) => logger.info({ id, attempt, code: RuntimeError.is(err) ? err.code : 'Internal' }, 'progress not recorded'),
      );
    };
    const job = this.#o.pool.run(
      { videoId: id, attempt, dataDir: this.#o.storage.dataDir, sourcePath, settings: this.#o.settings, binaries: this.#o.binaries, probeTimeoutMs: this.#o.probeTimeoutMs },
      {
        progress: (percent) => {
          const queued = pendingPercent !== null;
          pendingPercent = Math.max(percent, pendingPercent ?? 0);
          if (queued) return;
          record(() => {
            const p = pendingPercent!;
            pendingPercent = null;
            return runtime.execute('video', id, { type: 'ReportProgress', data: { attempt, percent: p } });
          });
        },
        rendition: (r) => record(() => this.#completeRendition(id, attempt, r)),
      },
    );
    active.job = job;
    let outcome: EncodeOutcome;
    try {
      outcome = await job.result;
    } catch (err) {
      outcome = { kind: 'failed', reason: `the encode worker stopped: ${err instanceof Error ? err.message : String(err)}`.slice(0, 600), retriable: true };
    }
    await chain;
    return outcome;
  }

  /** Publishes the rendition's file to the shared store, then records it (blob-store.ts says why in that order). */
  async #completeRendition(id: string, attempt: number, r: Rendition): Promise<unknown> {
    await this.#o.blobs.publish(r.path, this.#o.storage.absolute(id, r.path));
    return this.#o.runtime.execute('video', id, { type: 'CompleteRendition', data: { attempt, height: r.height, path: r.path, bytes: r.bytes } });
  }

  async #fail(id: string, attempt: number, reason: string, retriable: boolean): Promise<void> {
    await this.#o.runtime.execute('video', id, { type: 'Fail', data: { attempt, reason, retriable } });
    this.#o.logger.warn({ id, attempt, reason, retriable }, 'video processing failed');
  }

  #scheduleRetry(id: string): void {
    const t = setTimeout(() => {
      this.#retryTimers.delete(id);
      this.#enqueue(id);
      this.#notifyIdle();
    }, this.#o.retryDelayMs);
    t.unref();
    this.#retryTimers.set(id, t);
  }

  #isIdle(): boolean {
    return this.#active.size === 0 && this.#waiting.size === 0 && this.#retryTimers.size === 0;
  }

  #notifyIdle(): void {
    if (!this.#isIdle()) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }
}

function isDamage(err: unknown): err is RuntimeError {
  return RuntimeError.is(err, ErrorCodes.CorruptRecord) || RuntimeError.is(err, ErrorCodes.CorruptLog);
}
