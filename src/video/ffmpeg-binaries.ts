/**
 * Where ffmpeg and ffprobe live, and a start-up check that they work. The binaries come from npm
 * packages (`@ffmpeg-installer/ffmpeg`, `@ffprobe-installer/ffprobe`) so `npm install` is the whole
 * set-up; `FFMPEG_PATH` / `FFPROBE_PATH` override them (a system ffmpeg, a newer static build).
 *
 * Why a check at start-up: a missing, non-executable or wrong binary would otherwise show up as every
 * upload failing later, or as a job that never answers. `verifyFfmpegBinaries` runs `-version` (with a
 * timeout) and lists the encoders the pipeline needs, and fails with a message that names the path and
 * the fix.
 *
 * Gotchas:
 * - The installer packages throw at import on an unsupported platform, so they are loaded lazily and
 *   only when no override is set.
 * - npm does not always keep the executable bit of the ffprobe binary (its tarball ships it 0744):
 *   run as another user than the one who installed, it is not executable. The check says so (EACCES).
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { ErrorCodes, RuntimeError } from '../kernel/index.js';

export interface FfmpegBinaries {
  ffmpeg: string;
  ffprobe: string;
}

export interface FfmpegVersions {
  ffmpeg: string;
  ffprobe: string;
}

const require = createRequire(import.meta.url);

/** The binaries to use: `FFMPEG_PATH`/`FFPROBE_PATH` when set, else the npm-installed ones. */
export function resolveFfmpegBinaries(env: NodeJS.ProcessEnv = process.env): FfmpegBinaries {
  return {
    ffmpeg: nonEmpty(env.FFMPEG_PATH) ?? installed('@ffmpeg-installer/ffmpeg', 'FFMPEG_PATH'),
    ffprobe: nonEmpty(env.FFPROBE_PATH) ?? installed('@ffprobe-installer/ffprobe', 'FFPROBE_PATH'),
  };
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
  return { ffmpeg, ffprobe };
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
