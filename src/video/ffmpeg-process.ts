/**
 * One ffmpeg or ffprobe process under the pipeline's limits: a memory limit, a kill switch (cancel or
 * the job's wall clock), a bounded tail of stderr, progress from ffmpeg's `time=` stats, and an early
 * stop when the decoder reports a frame over `-max_pixels`.
 *
 * Why not fluent-ffmpeg (DESIGN's first choice, archived in May 2025): a 'progress' listener makes it
 * run its own ffprobe on the upload, with no protocol or format whitelist and no limits (it wants the
 * duration for a percent we compute ourselves); every command also spawns `ffmpeg -formats` and
 * `-encoders` to check capabilities; and there is no way to start ffmpeg through a limiter. A plain
 * `spawn` of server-built arguments does all we need in a few lines.
 *
 * Memory limit: each process is started as `prlimit --as=<bytes> -- <ffmpeg> <args>` (util-linux's
 * prlimit sets RLIMIT_AS on itself and execs, so the pid we hold is ffmpeg's). Chosen over
 * `sh -c 'ulimit -v N; exec ...'` because no shell ever parses anything. Every argument is made by
 * the server (media-policy.ts, storage.ts); nothing from a request reaches this command line.
 * `MALLOC_ARENA_MAX=2` keeps glibc from reserving 64 MiB of address space per thread, which a
 * limit on the address space would otherwise count against honest encodes.
 *
 * Gotchas:
 * - ffmpeg exits 0 after dropping frames over `-max_pixels` (it logs an error per frame and carries
 *   on), so the stderr line is the only sign: we kill it on the first such line and fail the job.
 * - Failure reasons are stored in the log and shown to clients: `scrubReason` removes the data dir,
 *   the binaries' paths and any other absolute path from ffmpeg's words.
 */
import { execFile, spawn } from 'node:child_process';
import { unlink } from 'node:fs/promises';
import type { FfmpegBinaries } from './ffmpeg-binaries.js';
import { writePidFile } from './storage.js';

/** Why a process was stopped or failed, when it was not a plain non-zero exit. */
export type StopCause = 'cancelled' | 'deadline' | 'max-pixels';

export class FfmpegFailure extends Error {
  constructor(
    message: string,
    readonly stop: StopCause | 'exit',
    /** The last lines of stderr, not yet scrubbed. */
    readonly stderrTail: string,
  ) {
    super(message);
  }
}

export interface FfmpegRun {
  binaries: FfmpegBinaries;
  /** Memory limit in bytes; 0: none. */
  maxMemoryBytes: number;
  args: string[];
  /** Written as `<output>` by ffmpeg; deleted when the run fails. */
  output: string;
  pidDir: string;
  /** Aborting it SIGKILLs ffmpeg; `signal.reason` ('cancelled' or 'deadline') becomes the failure's cause. */
  signal: AbortSignal;
  onSeconds?: (seconds: number) => void;
}

const STDERR_TAIL_BYTES = 8 * 1024;
const MAX_PIXELS_REPORT = /exceeds specified max pixel count/;

/** The command that runs `binary args` under the memory limit. */
export function limitedCommand(binaries: FfmpegBinaries, maxMemoryBytes: number, binary: string, args: string[]): { file: string; args: string[] } {
  if (maxMemoryBytes > 0 && binaries.prlimit) return { file: binaries.prlimit, args: [`--as=${maxMemoryBytes}`, '--', binary, ...args] };
  return { file: binary, args };
}

const LIMITED_ENV = { ...process.env, MALLOC_ARENA_MAX: '2' };

/** Runs ffmpeg to a clean exit; rejects with `FfmpegFailure` otherwise (the output file is then deleted). */
export function runFfmpeg(r: FfmpegRun): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (r.signal.aborted) return reject(new FfmpegFailure('stopped before it started', stopCause(r.signal), ''));
    const cmd = limitedCommand(r.binaries, r.maxMemoryBytes, r.binaries.ffmpeg, ['-hide_banner', '-nostdin', ...r.args, '-y', r.output]);
    const child = spawn(cmd.file, cmd.args, { stdio: ['ignore', 'ignore', 'pipe'], env: LIMITED_ENV, windowsHide: true });
    let tail = '';
    let cause: StopCause | null = null;
    const kill = (why: StopCause): void => {
      cause ??= why;
      child.kill('SIGKILL');
    };
    const onAbort = (): void => kill(stopCause(r.signal));
    r.signal.addEventListener('abort', onAbort, { once: true });
    if (child.pid !== undefined) {
      try {
        writePidFile(r.pidDir, child.pid);
      } catch {
        // Without a pid file only the reaping after a crash is lost; the encode itself is fine.
      }
    }
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      tail = (tail + chunk).slice(-STDERR_TAIL_BYTES);
      if (MAX_PIXELS_REPORT.test(chunk)) kill('max-pixels');
      if (r.onSeconds) {
        // Stats lines end in \r; the newest `time=` of the chunk is the progress.
        const times = chunk.match(/time=\s*(-?\d+:\d{2}:\d{2}(?:\.\d+)?)/g);
        const last = times?.[times.length - 1]?.slice(5);
        const s = parseTimemark(last);
        if (s !== null) r.onSeconds(s);
      }
    });
    let settled = false;
    const settle = (err: FfmpegFailure | null): void => {
      if (settled) return;
      settled = true;
      r.signal.removeEventListener('abort', onAbort);
      if (!err) return resolve();
      void unlink(r.output)
        .catch(() => undefined)
        .then(() => reject(err));
    };
    child.on('error', (err) => settle(new FfmpegFailure(`ffmpeg could not start (${(err as NodeJS.ErrnoException).code ?? err.message})`, 'exit', tail)));
    child.on('close', (code, signal) => {
      if (cause) return settle(new FfmpegFailure(`ffmpeg was stopped (${cause})`, cause, tail));
      if (code === 0) return settle(null);
      settle(new FfmpegFailure(`ffmpeg exited with ${signal ? `signal ${signal}` : `code ${code}`}: ${lastLines(tail, 2)}`, 'exit', tail));
    });
  });
}

export interface ProbeRun {
  binaries: FfmpegBinaries;
  maxMemoryBytes: number;
  args: string[];
  timeoutMs: number;
  signal: AbortSignal;
}

/** Runs ffprobe; resolves its stdout, or rejects with the execFile error (`killed`, `code`, and `stderr`). */
export function runFfprobe(r: ProbeRun): Promise<string> {
  const cmd = limitedCommand(r.binaries, r.maxMemoryBytes, r.binaries.ffprobe, r.args);
  return new Promise((resolve, reject) => {
    execFile(
      cmd.file,
      cmd.args,
      { timeout: r.timeoutMs, killSignal: 'SIGKILL', maxBuffer: 4 << 20, windowsHide: true, env: LIMITED_ENV, signal: r.signal },
      (err, stdout, stderr) => (err ? reject(Object.assign(err, { stderr })) : resolve(stdout)),
    );
  });
}

function stopCause(signal: AbortSignal): StopCause {
  return signal.reason === 'deadline' ? 'deadline' : 'cancelled';
}

export function parseTimemark(t: string | undefined): number | null {
  const m = t ? /^(-?\d+):(\d{2}):(\d{2}(?:\.\d+)?)$/.exec(t.trim()) : null;
  if (!m) return null;
  const s = Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]);
  return Number.isFinite(s) && s >= 0 ? s : null;
}

/** The last `n` non-empty lines (stats lines, ending in \r, count as lines). */
export function lastLines(s: string, n: number): string {
  return s
    .split(/[\r\n]+/)
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(-n)
    .join(' / ');
}

/**
 * Reasons are stored in the log and shown to clients: no server paths (the data dir, the binaries, any
 * other absolute path), no control characters, bounded.
 */
export function scrubReason(reason: string, dataDir: string, binaries?: FfmpegBinaries): string {
  let s = reason.split(dataDir).join('<data>');
  if (binaries) {
    for (const [name, path] of Object.entries(binaries)) if (typeof path === 'string' && path !== '') s = s.split(path).join(name);
  }
  s = s
    .replace(/ @ 0x[0-9a-f]+\]/g, ']')
    .replace(/(?<![\w.<>-])\/(?:[^\s/'"]+\/)*[^\s/'"]+/g, '<path>')
    .replace(/[\u0000-\u001f\u007f]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return (s.length > 600 ? `${s.slice(0, 600)}...` : s) || 'unknown error';
}
