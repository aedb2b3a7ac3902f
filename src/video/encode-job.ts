/**
 * One encode attempt of one video: probe the upload, check it against the allow-lists, encode each
 * rendition (smallest first, so a playable one exists early) and a thumbnail. Runs in a pool thread
 * (see encode-task.ts) but has no thread code itself, so tests can call it directly.
 *
 * Each output is written as `<name>.partial`, fsynced and renamed when ffmpeg exits cleanly; only a
 * renamed file is reported. Cancelling (the AbortSignal) SIGKILLs the running ffmpeg, deletes the
 * partial file and resolves `{ kind: 'cancelled' }`.
 *
 * Failure classes: anything about the input (ffprobe cannot read it, not on the allow-lists, too long,
 * ffmpeg reports invalid data, a limit below was hit) is `retriable: false`, because another attempt
 * reads the same bytes. An encode that fails otherwise (ffmpeg crashed, disk full) is `retriable: true`;
 * the reactor bounds the attempts.
 *
 * Limits (media-policy.ts header): every ffmpeg reads at most the probed duration plus a margin, at
 * most a frame count, no frame over `maxPixels`, under a memory limit; and the whole attempt gets a wall
 * clock derived from that duration (`jobTimeoutMs`). A job that hits one of them fails with a reason
 * that names the limit; it used up its attempt.
 *
 * Progress: each rendition weighs what it costs (its output pixels plus one decode of the source), and
 * while an encode runs the job says at most 95 %, so 99 % is only said once every rendition is written
 * (neither the last rendition's final stats line nor a lying duration can make it claim 99 % early).
 *
 * Gotchas:
 * - The pid of each running ffmpeg is written to the attempt directory, so a server restarted after
 *   kill -9 can kill an ffmpeg the dead process left behind (storage.ts `reapAttempts`).
 */
import { mkdir, unlink } from 'node:fs/promises';
import type { Rendition } from '../domain/index.js';
import { systemClock, type Clock } from '../kernel/index.js';
import type { EncodeJobInput, EncodeOutcome } from './encode-protocol.js';
import { FfmpegFailure, runFfmpeg, scrubReason } from './ffmpeg-process.js';
import {
  encodeInputArgs,
  jobTimeoutMs,
  renditionHeights,
  renditionOutputArgs,
  safeInputArgs,
  thumbnailOutputArgs,
  thumbnailSeekSec,
  type SourceInfo,
} from './media-policy.js';
import { probeSource } from './source-probe.js';
import { PARTIAL_SUFFIX, VideoStorage, commitFile, removePidFile } from './storage.js';

export interface EncodeJobHooks {
  signal?: AbortSignal;
  /** Whole-job percent (0-99), already throttled: at most every `progressStep` percent or `progressIntervalMs`. */
  onProgress?: (percent: number) => void;
  /** A rendition is durable under its final name. */
  onRendition?: (rendition: Rendition) => void;
  progressStep?: number;
  progressIntervalMs?: number;
  /** Times the progress throttle (default: the system clock). */
  clock?: Clock;
}

const THUMBNAIL_HEIGHT = 360;

/** An error the job turns into an outcome: `retriable` says whether another attempt may succeed. */
class JobFailure extends Error {
  constructor(
    message: string,
    readonly retriable: boolean,
  ) {
    super(message);
  }
}

class Cancelled extends Error {}

export async function runEncodeJob(input: EncodeJobInput, hooks: EncodeJobHooks = {}): Promise<EncodeOutcome> {
  const { videoId: id, attempt, settings } = input;
  const storage = new VideoStorage(input.dataDir);
  const clean = (s: string): string => scrubReason(s, storage.dataDir, input.binaries);
  // One switch for the caller's cancel and the job's wall clock; its `reason` says which one fired.
  const stop = new AbortController();
  const onCancel = (): void => stop.abort('cancelled');
  if (hooks.signal?.aborted) onCancel();
  hooks.signal?.addEventListener('abort', onCancel, { once: true });
  let deadline: NodeJS.Timeout | undefined;
  let outDir: string | null = null;
  try {
    if (!storage.isManagedSource(id, input.sourcePath)) throw new JobFailure('the source file was not stored by this server; it is never opened', false);
    const source = storage.absolute(id, input.sourcePath);
    outDir = storage.absolute(id, storage.attemptDir(id, attempt));
    await mkdir(outDir, { recursive: true });
    throwIfAborted(stop.signal);

    const probed = await probeSource({ binaries: input.binaries, settings, source, dataDir: input.dataDir, timeoutMs: input.probeTimeoutMs, signal: stop.signal });
    if (probed.kind === 'cancelled') throw new Cancelled();
    if (probed.kind === 'refused') throw new JobFailure(probed.reason, probed.retriable);
    const info = probed.source;
    const limitMs = jobTimeoutMs(info, settings);
    deadline = setTimeout(() => stop.abort('deadline'), limitMs);

    const heights = renditionHeights(info.height, settings.ladder);
    const weights = heights.map((h) => renditionWeight(h, info));
    const total = weights.reduce((a, b) => a + b, 0);
    const progress = throttle(hooks);
    const renditions: Rendition[] = [];
    let done = 0;
    for (const [i, height] of heights.entries()) {
      const path = storage.renditionPath(id, attempt, height);
      const final = storage.absolute(id, path);
      const tmp = final + PARTIAL_SUFFIX;
      const weight = weights[i]!;
      await runFfmpeg({
        binaries: input.binaries,
        maxMemoryBytes: settings.maxMemoryBytes,
        args: [...encodeInputArgs(info, settings), '-i', source, ...renditionOutputArgs(info, height, settings)],
        output: tmp,
        pidDir: outDir,
        signal: stop.signal,
        onSeconds: (sec) => progress(Math.min(RUNNING_CAP, (done + weight * Math.min(1, sec / info.durationSec)) / total)),
      }).catch((err: unknown) => {
        throw jobFailureOf(err, `encoding the ${height}p rendition`, info, input, limitMs, clean);
      });
      const rendition = { height, path, bytes: await commitFile(tmp, final) };
      renditions.push(rendition);
      hooks.onRendition?.(rendition);
      done += weight;
      progress(done / total);
    }
    const thumbHeight = Math.min(THUMBNAIL_HEIGHT, heights[heights.length - 1] ?? THUMBNAIL_HEIGHT);
    const thumbnail = await makeThumbnail(input, storage, info, { source, outDir, height: thumbHeight, signal: stop.signal });
    return { kind: 'succeeded', renditions, thumbnail };
  } catch (err) {
    if (err instanceof Cancelled || hooks.signal?.aborted) return { kind: 'cancelled' };
    if (err instanceof JobFailure) return { kind: 'failed', reason: err.message, retriable: err.retriable };
    return { kind: 'failed', reason: clean(`the encode job failed: ${(err as Error).message}`), retriable: true };
  } finally {
    clearTimeout(deadline);
    hooks.signal?.removeEventListener('abort', onCancel);
    if (outDir) await removePidFile(outDir);
  }
}

/** While an encode runs the job reports at most this fraction; the rest comes as renditions are written. */
const RUNNING_CAP = 0.95;

/** Rough relative cost of one rendition: its output pixels plus decoding the whole source once. */
function renditionWeight(height: number, source: SourceInfo): number {
  return height * height + (source.height * source.height) / 4;
}

// What ffmpeg says when an allocation fails under RLIMIT_AS: rarely ENOMEM itself; mostly a decoder's
// get_buffer() or an encoder that cannot open (our encoder arguments are fixed, so that is memory).
const OUT_OF_MEMORY = /Cannot allocate memory|out of memory|failed to map segment|bad_alloc|get_buffer\(\) failed|Error while opening encoder/i;

/** Turns a failed ffmpeg run into the job's failure: a limit names itself; data ffmpeg calls invalid is final. */
function jobFailureOf(err: unknown, what: string, info: SourceInfo, input: EncodeJobInput, limitMs: number, clean: (s: string) => string): Error {
  if (!(err instanceof FfmpegFailure)) return err as Error;
  const s = input.settings;
  switch (err.stop) {
    case 'cancelled':
      return new Cancelled();
    case 'deadline':
      return new JobFailure(
        `${what} was stopped: the attempt took longer than its ${Math.round(limitMs / 1000)} s limit (${s.jobTimeoutBaseMs / 1000} s + ${s.jobTimeoutPerVideoSecMs / 1000} s per second of video)`,
        false,
      );
    case 'max-pixels':
      return new JobFailure(`${what} was stopped: a frame in the stream is larger than the ${s.maxPixels}-pixel limit (the header said ${info.width}x${info.height})`, false);
    case 'exit':
      break;
  }
  if (s.maxMemoryBytes > 0 && input.binaries.prlimit && OUT_OF_MEMORY.test(err.stderrTail)) {
    return new JobFailure(`${what} failed: ffmpeg ran out of its ${Math.round(s.maxMemoryBytes / 2 ** 20)} MiB memory limit`, false);
  }
  // The same bytes fail the same way: data ffmpeg calls invalid is not worth another attempt.
  const badInput = /Invalid data found|moov atom not found|corrupt/i.test(err.message);
  return new JobFailure(`${what} failed: ${clean(err.message)}`, !badInput);
}

async function makeThumbnail(
  input: EncodeJobInput,
  storage: VideoStorage,
  info: SourceInfo,
  { source, outDir, height, signal }: { source: string; outDir: string; height: number; signal: AbortSignal },
): Promise<string | null> {
  const path = storage.thumbnailPath(input.videoId, input.attempt);
  const final = storage.absolute(input.videoId, path);
  try {
    await runFfmpeg({
      binaries: input.binaries,
      maxMemoryBytes: input.settings.maxMemoryBytes,
      args: ['-ss', String(thumbnailSeekSec(info)), '-max_pixels', String(input.settings.maxPixels), ...safeInputArgs(info.demuxer), '-i', source, ...thumbnailOutputArgs(info, height)],
      output: final + PARTIAL_SUFFIX,
      pidDir: outDir,
      signal,
    });
    await commitFile(final + PARTIAL_SUFFIX, final);
    return path;
  } catch (err) {
    if (err instanceof FfmpegFailure && err.stop === 'cancelled') throw new Cancelled();
    // A thumbnail is a nicety: the renditions are done, so the video still succeeds without one.
    await unlink(final + PARTIAL_SUFFIX).catch(() => undefined);
    return null;
  }
}

/** Whole-job progress in [0, 1] -> integer percents 0-99, at most every `step` % or `intervalMs`. */
function throttle(hooks: EncodeJobHooks): (fraction: number) => void {
  const step = hooks.progressStep ?? 5;
  const interval = hooks.progressIntervalMs ?? 500;
  let last = 0;
  const clock = hooks.clock ?? systemClock;
  let lastAt = clock.now();
  return (fraction) => {
    // 100 belongs to VideoProcessingSucceeded; a job reports at most 99.
    const percent = Math.min(99, Math.floor(fraction * 100));
    if (percent <= last) return; // no clock read for a stats line that changes nothing
    const now = clock.now();
    if (percent - last < step && now - lastAt < interval) return;
    last = percent;
    lastAt = now;
    hooks.onProgress?.(percent);
  };
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new Cancelled();
}
