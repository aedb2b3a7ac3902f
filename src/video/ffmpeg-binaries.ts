/**
 * Where ffmpeg and ffprobe live, and a start-up check that they work. Resolution order:
 * 1. `FFMPEG_PATH` / `FFPROBE_PATH` when set (with only `FFMPEG_PATH` set, ffprobe is the one beside it);
 * 2. a system ffmpeg: the first directory on `PATH` holding both `ffmpeg` and `ffprobe` (Debian's
 *    `ffmpeg` package: a maintained build that gets security updates);
 * 3. the npm packages (`@ffmpeg-installer/ffmpeg`, `@ffprobe-installer/ffprobe`), the last resort.
 *
 * Why not the npm packages first: they are old static builds (the ffmpeg one is from 2018, N-47683)
 * decoding untrusted input, and the ffprobe one, another build, segfaults on every MPEG-TS file. Probe
 * and encode must use the same build, or the probe's word about a file means nothing to the encoder;
 * steps 1 and 2 take both binaries from one place, and `verifyFfmpegBinaries` reports whether the two
 * version lines agree (`sameBuild`).
 *
 * Why a check at start-up: a missing, non-executable or wrong binary would otherwise show up as every
 * upload failing later, or as a job that never answers. `verifyFfmpegBinaries` runs `-version` (with a
 * timeout) and lists the encoders the pipeline needs, and fails with a message that names the path and
 * the fix (that message is for the operator at start-up; failure reasons shown to clients never name a
 * binary's path, see ffmpeg-process.ts `scrubReason`).
 *
 * `prlimit` (util-linux) is how each ffmpeg/ffprobe gets its memory limit (ffmpeg-process.ts); it is
 * found on `PATH` like ffmpeg.
 *
 * Gotchas:
 * - The installer packages throw at import on an unsupported platform, so they are loaded lazily and
 *   only when nothing else was found.
 * - npm does not always keep the executable bit of the ffprobe binary (its tarball ships it 0744):
 *   run as another user than the one who installed, it is not executable. The check says so (EACCES).
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { ErrorCodes, RuntimeError } from '../kernel/index.js';

export interface FfmpegBinaries {
  ffmpeg: string;
  ffprobe: string;
  /** util-linux `prlimit`, which starts each ffmpeg/ffprobe under a memory limit; absent: no limit. */
  prlimit?: string;
}

export interface FfmpegVersions {
  ffmpeg: string;
  ffprobe: string;
  /** Both version lines name the same build (the probe describes what the encoder will read). */
  sameBuild: boolean;
}

const require = createRequire(import.meta.url);

/** The binaries to use (see the module header for the order). */
export function resolveFfmpegBinaries(env: NodeJS.ProcessEnv = process.env): FfmpegBinaries {
  const prlimit = onPath(env.PATH, 'prlimit');
  const withLimiter = (b: FfmpegBinaries): FfmpegBinaries => (prlimit ? { ...b, prlimit } : b);
  const ffmpeg = nonEmpty(env.FFMPEG_PATH);
  const ffprobe = nonEmpty(env.FFPROBE_PATH);
  if (ffmpeg !== undefined || ffprobe !== undefined) {
    return withLimiter({
      ffmpeg: ffmpeg ?? beside(ffprobe!, 'ffmpeg') ?? installed('@ffmpeg-installer/ffmpeg', 'FFMPEG_PATH'),
      ffprobe: ffprobe ?? beside(ffmpeg!, 'ffprobe') ?? installed('@ffprobe-installer/ffprobe', 'FFPROBE_PATH'),
    });
  }
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir === '' || !isExecutable(join(dir, 'ffmpeg')) || !isExecutable(join(dir, 'ffprobe'))) continue;
    return withLimiter({ ffmpeg: join(dir, 'ffmpeg'), ffprobe: join(dir, 'ffprobe') });
  }
  return withLimiter({
    ffmpeg: installed('@ffmpeg-installer/ffmpeg', 'FFMPEG_PATH'),
    ffprobe: installed('@ffprobe-installer/ffprobe', 'FFPROBE_PATH'),
  });
}

function onPath(path: string | undefined, name: string): string | undefined {
  for (const dir of (path ?? '').split(delimiter)) {
    if (dir !== '' && isExecutable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** `name` in the directory of `binary`, when it is there: the same build as `binary`. */
function beside(binary: string, name: string): string | undefined {
  const p = join(dirname(binary), name);
  return isExecutable(p) ? p : undefined;
}

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/** Encoders every rendition needs (H.264 video, AAC audio) and the thumbnail's JPEG encoder. */
export const REQUIRED_ENCODERS = ['libx264', 'aac', 'mjpeg'] as const;

/**
 * Runs `-version` on both binaries and checks the encoders. Resolves with the first version line of each;
 * rejects with `InvalidOptions` and a message naming the binary, its path and how to fix it.
 */
export async function verifyFfmpegBinaries(binaries: FfmpegBinaries, timeoutMs = 15_000): Promise<FfmpegVersions> {
  const ffmpeg = await versionOf('ffmpeg', binaries.ffmpeg, 'FFMPEG_PATH', timeoutMs);
  const ffprobe = await versionOf('ffprobe', binaries.ffprobe, 'FFPROBE_PATH', timeoutMs);
  const encoders = await run(binaries.ffmpeg, ['-hide_banner', '-encoders'], timeoutMs).catch((err: unknown) => {
    throw unusable('ffmpeg', binaries.ffmpeg, 'FFMPEG_PATH', `\`-encoders\` failed: ${(err as Error).message}`);
  });
  const missing = REQUIRED_ENCODERS.filter((e) => !new RegExp(`^\\s*[VAS][A-Z.]{5}\\s+${e}\\s`, 'm').test(encoders));
  if (missing.length > 0) {
    throw unusable('ffmpeg', binaries.ffmpeg, 'FFMPEG_PATH', `it lacks the encoder(s) ${missing.join(', ')}; use a build with libx264 and aac`);
  }
  return { ffmpeg, ffprobe, sameBuild: buildOf(ffmpeg) === buildOf(ffprobe) };
}

/** "ffmpeg version 5.1.9-0+deb12u1 Copyright ..." -> "5.1.9-0+deb12u1". */
function buildOf(versionLine: string): string {
  return versionLine.split(/\s+/)[2] ?? '';
}

async function versionOf(name: 'ffmpeg' | 'ffprobe', path: string, envVar: string, timeoutMs: number): Promise<string> {
  let out: string;
  try {
    out = await run(path, ['-version'], timeoutMs);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { killed?: boolean };
    const why =
      e.code === 'ENOENT' ? 'no such file'
      : e.code === 'EACCES' ? `it is not executable (chmod +x ${path})`
      : e.killed ? `\`-version\` did not answer within ${timeoutMs} ms`
      : `\`-version\` failed: ${e.message.split('\n')[0]}`;
    throw unusable(name, path, envVar, why);
  }
  const first = out.split('\n', 1)[0] ?? '';
  if (!first.startsWith(`${name} version`)) throw unusable(name, path, envVar, `\`-version\` printed ${JSON.stringify(first.slice(0, 80))}, not "${name} version ..."`);
  return first;
}

function run(file: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 4 << 20, windowsHide: true }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}

function installed(pkg: string, envVar: string): string {
  try {
    return (require(pkg) as { path: string }).path;
  } catch (err) {
    throw new RuntimeError(ErrorCodes.InvalidOptions, `cannot load ${pkg} (${(err as Error).message.split('\n')[0]}); reinstall it or set ${envVar} to a binary`, { package: pkg });
  }
}

function unusable(name: string, path: string, envVar: string, why: string): RuntimeError {
  return new RuntimeError(ErrorCodes.InvalidOptions, `${name} at ${path} is unusable: ${why}. Set ${envVar} to a working ${name} binary.`, { binary: name, path });
}

function nonEmpty(s: string | undefined): string | undefined {
  return s !== undefined && s.trim() !== '' ? s : undefined;
}
