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
 * ffmpeg reports invalid data) is `retriable: false`, because another attempt reads the same bytes. An
 * encode that fails otherwise (ffmpeg crashed, disk full, a process limit) is `retriable: true`; the
 * reactor bounds the attempts.
 *
 * Gotchas:
 * - ffprobe runs through execFile, not fluent-ffmpeg's `ffprobe()`, because that one has no timeout
 *   and buffers unbounded output; a crafted file must not hang or flood a job.
 * - The pid of each running ffmpeg is written to the attempt directory, so a server restarted after
 *   kill -9 can kill an ffmpeg the dead process left behind (storage.ts `reapAttempts`).
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdir, unlink } from 'node:fs/promises';
import ffmpeg from 'fluent-ffmpeg';
import type { Rendition } from '../domain/index.js';
import type { EncodeJobInput, EncodeOutcome } from './encode-protocol.js';
import {
  assessProbe,
  probeArgs,
  renditionHeights,
  renditionOutputArgs,
  safeInputArgs,
  thumbnailOutputArgs,
  thumbnailSeekSec,
  type SourceInfo,
} from './media-policy.js';
import { PARTIAL_SUFFIX, VideoStorage, commitFile, removePidFile, writePidFile } from './storage.js';

export interface EncodeJobHooks {
  signal?: AbortSignal;
  /** Whole-job percent (0-99), already throttled: at most every `progressStep` percent or `progressIntervalMs`. */
  onProgress?: (percent: number) => void;
  /** A rendition is durable under its final name. */
  onRendition?: (rendition: Rendition) => void;
  progressStep?: number;
  progressIntervalMs?: number;
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
  const { videoId: id, attempt } = input;
  const signal = hooks.signal;
  const storage = new VideoStorage(input.dataDir);
  const clean = (s: string): string => sanitizeReason(s, storage.dataDir);
  let outDir: string | null = null;
  try {
    if (!storage.isManagedSource(id, input.sourcePath)) throw new JobFailure('the source file was not stored by this server; it is never opened', false);
    const source = storage.absolute(id, input.sourcePath);
    outDir = storage.absolute(id, storage.attemptDir(id, attempt));
    await mkdir(outDir, { recursive: true });
    throwIfAborted(signal);

    const info = await probe(input, source, signal);
    const heights = renditionHeights(info.height, input.settings.ladder);
    const progress = throttle(hooks);
    const renditions: Rendition[] = [];
    for (const [i, height] of heights.entries()) {
      const path = storage.renditionPath(id, attempt, height);
      const final = storage.absolute(id, path);
      const tmp = final + PARTIAL_SUFFIX;
      await runFfmpeg({
        ffmpeg: input.binaries.ffmpeg,
        inputArgs: ['-nostdin', ...safeInputArgs(info.demuxer)],
        input: source,
        outputArgs: renditionOutputArgs(info, height, input.settings),
        output: tmp,
        pidDir: outDir,
        signal,
        onSeconds: (sec) => progress((i + Math.min(1, sec / info.durationSec)) / heights.length),
      }).catch((err: unknown) => {
        if (err instanceof Cancelled) throw err;
        const message = (err as Error).message;
        // The same bytes fail the same way: data ffmpeg calls invalid is not worth another attempt.
        const badInput = /Invalid data found|moov atom not found|corrupt/i.test(message);
        throw new JobFailure(`encoding the ${height}p rendition failed: ${clean(message)}`, !badInput);
      });
      const rendition = { height, path, bytes: await commitFile(tmp, final) };
      renditions.push(rendition);
      hooks.onRendition?.(rendition);
      progress((i + 1) / heights.length);
    }
    const thumbHeight = Math.min(THUMBNAIL_HEIGHT, heights[heights.length - 1] ?? THUMBNAIL_HEIGHT);
    const thumbnail = await makeThumbnail(input, storage, info, { source, outDir, height: thumbHeight, signal });
    return { kind: 'succeeded', renditions, thumbnail };
  } catch (err) {
    if (err instanceof Cancelled || signal?.aborted) return { kind: 'cancelled' };
    if (err instanceof JobFailure) return { kind: 'failed', reason: err.message, retriable: err.retriable };
    return { kind: 'failed', reason: clean(`the encode job failed: ${(err as Error).message}`), retriable: true };
  } finally {
    if (outDir) await removePidFile(outDir);
  }
}

async function probe(input: EncodeJobInput, source: string, signal: AbortSignal | undefined): Promise<SourceInfo> {
  const out = await new Promise<string>((resolve, reject) => {
    execFile(
      input.binaries.ffprobe,
      probeArgs(source),
      { timeout: input.probeTimeoutMs, killSignal: 'SIGKILL', maxBuffer: 4 << 20, windowsHide: true, ...(signal ? { signal } : {}) },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: unknown };
        if (signal?.aborted) return reject(new Cancelled());
        if (typeof e.code === 'string') return reject(new JobFailure(`ffprobe could not start (${e.code})`, true));
        if (e.killed) return reject(new JobFailure(`probing the upload took longer than ${input.probeTimeoutMs} ms`, false));
        const why = lastLine(stderr) || e.message;
        reject(new JobFailure(`not a video file ffprobe can read: ${sanitizeReason(why, input.dataDir)}`, false));
      },
    );
  });
  let json: unknown;
  try {
    json = JSON.parse(out);
  } catch {
    throw new JobFailure('ffprobe printed no readable description of the upload', false);
  }
  const a = assessProbe(json, input.settings.maxDurationSec);
  if (!a.ok) throw new JobFailure(a.reason, false);
  return a.source;
}

async function makeThumbnail(
  input: EncodeJobInput,
  storage: VideoStorage,
  info: SourceInfo,
  { source, outDir, height, signal }: { source: string; outDir: string; height: number; signal: AbortSignal | undefined },
): Promise<string | null> {
  const path = storage.thumbnailPath(input.videoId, input.attempt);
  const final = storage.absolute(input.videoId, path);
  try {
    await runFfmpeg({
      ffmpeg: input.binaries.ffmpeg,
      inputArgs: ['-nostdin', '-ss', String(thumbnailSeekSec(info)), ...safeInputArgs(info.demuxer)],
      input: source,
      outputArgs: thumbnailOutputArgs(info, height),
      output: final + PARTIAL_SUFFIX,
      pidDir: outDir,
      signal,
    });
    await commitFile(final + PARTIAL_SUFFIX, final);
    return path;
  } catch (err) {
    if (err instanceof Cancelled) throw err;
    // A thumbnail is a nicety: the renditions are done, so the video still succeeds without one.
    await unlink(final + PARTIAL_SUFFIX).catch(() => undefined);
    return null;
  }
}

interface FfmpegRun {
  ffmpeg: string;
  inputArgs: string[];
  input: string;
  outputArgs: string[];
  output: string;
  pidDir: string;
  signal: AbortSignal | undefined;
  onSeconds?: (seconds: number) => void;
}

/**
 * One ffmpeg process through fluent-ffmpeg. Options go in through the varargs form, which fluent-ffmpeg
 * never splits on spaces. Resolves on a clean exit; on cancel, SIGKILLs ffmpeg, waits for it to exit,
 * deletes the partial output and rejects with `Cancelled`.
 */
function runFfmpeg(r: FfmpegRun): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (r.signal?.aborted) return reject(new Cancelled());
    const cmd = ffmpeg({ stdoutLines: 0 }).setFfmpegPath(r.ffmpeg);
    cmd.input(r.input).inputOptions(...r.inputArgs);
    cmd.output(r.output).outputOptions(...r.outputArgs);
    let proc: ChildProcess | undefined;
    const kill = (): void => {
      proc?.kill('SIGKILL');
    };
    r.signal?.addEventListener('abort', kill, { once: true });
    cmd.on('start', () => {
      proc = (cmd as unknown as { ffmpegProc?: ChildProcess }).ffmpegProc;
      if (r.signal?.aborted) kill();
      else if (proc?.pid !== undefined) {
        try {
          writePidFile(r.pidDir, proc.pid);
        } catch {
          // Without a pid file only the reaping after a crash is lost; the encode itself is fine.
        }
      }
    });
    if (r.onSeconds) {
      const onSeconds = r.onSeconds;
      cmd.on('progress', (p: { timemark?: string }) => {
        const s = parseTimemark(p.timemark);
        if (s !== null) onSeconds(s);
      });
    }
    const settle = (err: Error | null): void => {
      r.signal?.removeEventListener('abort', kill);
      if (!err) return resolve();
      void unlink(r.output)
        .catch(() => undefined)
        .then(() => reject(r.signal?.aborted ? new Cancelled() : err));
    };
    cmd.on('error', (err: Error) => settle(err));
    cmd.on('end', () => settle(null));
    cmd.run();
  });
}

/** Whole-job progress in [0, 1] -> integer percents 0-99, at most every `step` % or `intervalMs`. */
function throttle(hooks: EncodeJobHooks): (fraction: number) => void {
  const step = hooks.progressStep ?? 5;
  const interval = hooks.progressIntervalMs ?? 500;
  let last = 0;
  let lastAt = Date.now();
  return (fraction) => {
    // 100 belongs to VideoProcessingSucceeded; a job reports at most 99.
    const percent = Math.min(99, Math.floor(fraction * 100));
    const now = Date.now();
    if (percent <= last || (percent - last < step && now - lastAt < interval)) return;
    last = percent;
    lastAt = now;
    hooks.onProgress?.(percent);
  };
}

export function parseTimemark(t: string | undefined): number | null {
  const m = t ? /^(-?\d+):(\d{2}):(\d{2}(?:\.\d+)?)$/.exec(t.trim()) : null;
  if (!m) return null;
  const s = Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]);
  return Number.isFinite(s) && s >= 0 ? s : null;
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new Cancelled();
}

function lastLine(s: string): string {
  const lines = s.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines[lines.length - 1] ?? '';
}

/** Reasons are stored in the log and shown to clients: no server paths, no control characters, bounded. */
export function sanitizeReason(reason: string, dataDir: string): string {
  const s = reason.split(dataDir).join('<data>').replace(/[\u0000-\u001f\u007f]+/g, ' ').replace(/\s+/g, ' ').trim();
  return (s.length > 600 ? `${s.slice(0, 600)}...` : s) || 'unknown error';
}
