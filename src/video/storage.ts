/**
 * Video files under the data dir. Every path is built here, by the server, from a server-generated
 * video id and numbers (attempt, height): nothing a client sends is ever part of a file name.
 *
 * Layout (paths in events are relative to the data dir, as the video decider requires):
 * ```
 * <dataDir>/videos/<id>/source            the upload, exactly as received
 * <dataDir>/videos/<id>/a<attempt>/240p.mp4, 360p.mp4, 720p.mp4, thumb.jpg
 * ```
 * Each encode attempt writes into its own directory, so a crashed attempt's leftovers can never be
 * mistaken for a newer attempt's output, and a new attempt deletes the older directories.
 *
 * Durability: a file is written under a temporary name (`.partial`, `.upload-*`), fsynced, renamed
 * to its final name, and the directory fsynced; only then is it recorded in the log. So a crash
 * (kill -9, power loss) never leaves a half-written file recorded as done.
 *
 * Gotchas:
 * - `managedId` is stricter than the runtime's id rule: ids with `:` or `..` are valid aggregate ids
 *   but cannot be path segments in an event (`storedPath` in domain/video.ts). Uploads get such ids
 *   by construction; a video created some other way is refused by the reactor, never encoded.
 * - `reapAttempts` kills an ffmpeg left running by a crashed process only if its command line names
 *   that attempt's directory, so a reused pid is never killed by mistake (Linux `/proc` only).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, writeFileSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { isAbsolute, join, resolve, sep } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ErrorCodes, RuntimeError, systemClock } from '../kernel/index.js';

/** A video id this server can use as a path segment. */
const MANAGED_ID = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;
/** A relative stored path, as `storedPath` in domain/video.ts allows it. */
const STORED_PATH = /^[A-Za-z0-9_-]+(\/[A-Za-z0-9_.-]+)*$/;

export const PARTIAL_SUFFIX = '.partial';
export const PID_FILE = 'ffmpeg.pid';

export interface ReceivedUpload {
  /** Relative to the data dir. */
  path: string;
  bytes: number;
  sha256: string;
}

export class VideoStorage {
  /** Absolute. */
  readonly dataDir: string;
  readonly videosDir: string;

  constructor(dataDir: string) {
    this.dataDir = resolve(dataDir);
    this.videosDir = join(this.dataDir, 'videos');
  }

  /** A new video id: time-ordered (base36 ms of `now`, epoch ms) so listings read oldest first, plus 64 random bits. */
  static newVideoId(now = systemClock.now()): string {
    return `v-${now.toString(36)}-${randomBytes(8).toString('hex')}`;
  }

  static isManagedId(id: string): boolean {
    return MANAGED_ID.test(id) && !id.includes('..');
  }

  sourcePath(id: string): string {
    return `videos/${this.#id(id)}/source`;
  }

  attemptDir(id: string, attempt: number): string {
    if (!Number.isSafeInteger(attempt) || attempt < 1) throw new RuntimeError(ErrorCodes.Internal, `attempt must be a positive integer, got ${attempt}`);
    return `videos/${this.#id(id)}/a${attempt}`;
  }

  renditionPath(id: string, attempt: number, height: number): string {
    if (!Number.isSafeInteger(height) || height < 1) throw new RuntimeError(ErrorCodes.Internal, `height must be a positive integer, got ${height}`);
    return `${this.attemptDir(id, attempt)}/${height}p.mp4`;
  }

  thumbnailPath(id: string, attempt: number): string {
    return `${this.attemptDir(id, attempt)}/thumb.jpg`;
  }

  /**
   * The absolute path of a stored (relative) path that belongs to video `id`. Throws `NotFound` for
   * anything else: a path from the log is trusted only if it has the shape this class builds.
   */
  absolute(id: string, stored: string): string {
    const prefix = `videos/${this.#id(id)}/`;
    if (!STORED_PATH.test(stored) || stored.includes('..') || !stored.startsWith(prefix) || isAbsolute(stored)) {
      throw new RuntimeError(ErrorCodes.NotFound, `path ${JSON.stringify(stored.slice(0, 300))} is not a file of video ${id}`, { id });
    }
    const abs = resolve(this.dataDir, stored);
    if (!abs.startsWith(this.videosDir + sep)) throw new RuntimeError(ErrorCodes.NotFound, `path escapes the video store`, { id });
    return abs;
  }

  /** True when `stored` is exactly the source path this server gives video `id`. */
  isManagedSource(id: string, stored: string): boolean {
    return VideoStorage.isManagedId(id) && stored === this.sourcePath(id);
  }

  /**
   * Streams an upload to `videos/<id>/source`: hashed and counted on the way, capped at `maxBytes`,
   * never held in memory. On any failure (cap, empty body, client gone) nothing is left on disk.
   */
  async receiveUpload(id: string, body: Readable, maxBytes: number): Promise<ReceivedUpload> {
    // Listen at once: the client may go away before the pipeline below is attached, and an 'error'
    // with no listener would be an uncaught exception. The pipeline still sees the destroyed stream.
    body.on('error', () => undefined);
    const dir = join(this.videosDir, this.#id(id));
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `.upload-${randomBytes(6).toString('hex')}`);
    const hash = createHash('sha256');
    let bytes = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        bytes += chunk.length;
        if (bytes > maxBytes) {
          done(new RuntimeError(ErrorCodes.PayloadTooLarge, `the upload exceeds the ${maxBytes}-byte limit`, { limit: maxBytes }));
          return;
        }
        hash.update(chunk);
        done(null, chunk);
      },
    });
    try {
      await pipeline(body, meter, createWriteStream(tmp, { flags: 'wx' }));
      if (bytes === 0) throw new RuntimeError(ErrorCodes.InvalidCommand, 'the upload is empty; send the video file as the request body');
      await fsyncFile(tmp);
      const final = join(dir, 'source');
      await rename(tmp, final);
      await fsyncDir(dir);
      return { path: this.sourcePath(id), bytes, sha256: hash.digest('hex') };
    } catch (err) {
      // The client may still be sending: stop reading so the socket can be closed.
      body.destroy();
      await rm(dir, { recursive: true, force: true });
      throw RuntimeError.is(err) ? err : new RuntimeError(ErrorCodes.InvalidCommand, `the upload did not complete: ${(err as Error).message}`);
    }
  }

  /** Deletes everything of one video (an upload whose `Upload` command was refused). */
  async removeVideo(id: string): Promise<void> {
    await rm(join(this.videosDir, this.#id(id)), { recursive: true, force: true });
  }

  /**
   * Before attempt `attempt` starts: kills any ffmpeg still running for an older attempt (left over by
   * a process that was killed), and deletes the older attempts' directories, whose files the log no
   * longer refers to (a new attempt resets the renditions). Returns the pids it killed.
   */
  async reapAttempts(id: string, attempt: number): Promise<number[]> {
    const root = join(this.videosDir, this.#id(id));
    const killed: number[] = [];
    let entries: string[];
    try {
      entries = await readdir(root);
    } catch {
      return killed;
    }
    for (const name of entries) {
      const m = /^a(\d+)$/.exec(name);
      if (!m || Number(m[1]) === attempt) continue;
      const dir = join(root, name);
      const pid = await readPid(dir);
      if (pid !== null && (await commandLineMentions(pid, dir))) {
        try {
          process.kill(pid, 'SIGKILL');
          killed.push(pid);
        } catch {
          // Already gone.
        }
      }
      if (Number(m[1]) < attempt) await rm(dir, { recursive: true, force: true });
    }
    return killed;
  }

  #id(id: string): string {
    if (!VideoStorage.isManagedId(id)) throw new RuntimeError(ErrorCodes.InvalidId, `video id ${JSON.stringify(id.slice(0, 140))} cannot name files (ids made by this server match ${MANAGED_ID.source})`, { id: id.slice(0, 140) });
    return id;
  }
}

/**
 * Synchronous on purpose (it runs in a pool thread, and the file is a few bytes): the window between
 * spawning ffmpeg and recording its pid, in which a kill -9 would leave an ffmpeg nobody can reap,
 * stays as short as it can be.
 */
export function writePidFile(dir: string, pid: number): void {
  writeFileSync(join(dir, PID_FILE), String(pid));
}

export async function removePidFile(dir: string): Promise<void> {
  await unlink(join(dir, PID_FILE)).catch(() => undefined);
}

/** Makes a finished temporary file durable under its final name; returns its size in bytes. */
export async function commitFile(tmp: string, final: string): Promise<number> {
  await fsyncFile(tmp);
  await rename(tmp, final);
  await fsyncDir(resolve(final, '..'));
  return (await stat(final)).size;
}

async function fsyncFile(path: string): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function fsyncDir(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } catch {
    // Some file systems refuse fsync on a directory; the rename is still atomic.
  } finally {
    await fh.close();
  }
}

async function readPid(dir: string): Promise<number | null> {
  try {
    const n = Number((await readFile(join(dir, PID_FILE), 'utf8')).trim());
    return Number.isSafeInteger(n) && n > 1 ? n : null;
  } catch {
    return null;
  }
}

async function commandLineMentions(pid: number, dir: string): Promise<boolean> {
  try {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.split('\u0000').some((arg) => arg.startsWith(dir + sep));
  } catch {
    return false;
  }
}
