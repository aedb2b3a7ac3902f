/**
 * The bound on this server's copies of the video object store (cluster mode, blob-store.ts): the data
 * dir holds the files this server uploaded, encoded or served, and without a bound it would end up
 * holding every video of the group. Over `maxBytes`, or with less than `minFreeBytes` free on the data
 * dir's file system (the log lives there too: below its own reserve it stops taking commands), the
 * copies used least recently go, oldest first.
 *
 * Why it is safe to delete a copy: stored paths are immutable (blob-store.ts), so a copy is only ever a
 * cache of its object, and `fetch` brings it back on the next use. A copy goes only when
 * - the store holds its object whole (same size): asked right before the delete, so a file that never
 *   reached the store (a crashed upload, an attempt's leftover) is never mistaken for a copy;
 * - nobody holds it (`hold`: an encode reads its source for minutes, ffmpeg opening it once per
 *   rendition);
 * - it was not used for `minIdleMs`: a file `fetch` just answered for is about to be opened by the
 *   caller (a request being served); once open, a delete leaves the reader's descriptor valid.
 * A `fetch` that arrives while its file is being deleted waits for the delete (`settled`) and then
 * downloads it again.
 *
 * At open, the copies an earlier process left are found by walking `<dataDir>/videos` (temporary names
 * skipped), ordered by modification time (the object's, set by publish and fetch), as not used yet; a
 * download it left unfinished (`<file>.fetch-<hex>`) is deleted.
 *
 * The free space is looked at whenever a copy is used, and every `FREE_CHECK_MS` (the log's own growth
 * fills the disk too).
 *
 * Gotchas: the byte count is what this process saw; a copy another path deleted (an older attempt's
 * directory, storage.ts `reapAttempts`) is dropped from it when a sweep finds it gone. A sweep that
 * ends over the bound because copies are held or recent tries again `minIdleMs` later.
 */
import { lstat, readdir, rm } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { freeBytes } from '../log/index.js';
import { PARTIAL_SUFFIX, PID_FILE } from './storage.js';

/** A download in progress is written to `<file>` + this + random hex, renamed once complete. */
export const FETCH_INFIX = '.fetch-';
/** How often the free-space floor is checked when nothing else makes the cache look. */
export const FREE_CHECK_MS = 60_000;
const FETCH_TEMP = /\.fetch-[0-9a-f]+$/;

export interface LocalCopiesOptions {
  /** The data dir: stored paths are relative to it (storage.ts). */
  dataDir: string;
  /** Bytes of copies kept (0: no bound). */
  maxBytes: number;
  /** A copy used this recently stays, even over the bound. */
  minIdleMs: number;
  /** Bytes to keep free on the data dir's file system (0: no floor); copies go until it is. */
  minFreeBytes?: number;
  /** Free bytes on the data dir's file system, null when unknown (tests hand in a stand-in). */
  freeBytes?: () => number | null;
  /** Whether the store holds `stored` whole (`size` bytes). Throws when it cannot tell: the copy stays. */
  storeHolds(stored: string, size: number): Promise<boolean>;
  /** Milliseconds, monotonic (tests hand in a fake one). */
  now?: () => number;
  onEvicted?(stored: string, size: number): void;
  onError?(stored: string, err: unknown): void;
}

interface Copy {
  stored: string;
  size: number;
  /** When it was last used (`-Infinity`: found at open, not used since). */
  usedAt: number;
}

export class LocalCopies {
  readonly #o: LocalCopiesOptions;
  readonly #now: () => number;
  /** By absolute file; insertion order is recency order (a use deletes and re-inserts). */
  readonly #copies = new Map<string, Copy>();
  readonly #held = new Map<string, number>();
  /** Deletes in progress, by absolute file. */
  readonly #going = new Map<string, Promise<void>>();
  #bytes = 0;
  #sweep: Promise<void> | null = null;
  #again = false;
  #retry: ReturnType<typeof setTimeout> | null = null;
  #closed = false;

  readonly #freeBytes: () => number | null;
  readonly #freeCheck: ReturnType<typeof setInterval> | null;

  constructor(o: LocalCopiesOptions) {
    this.#o = o;
    this.#now = o.now ?? (() => performance.now());
    this.#freeBytes = o.freeBytes ?? (() => freeBytes(o.dataDir));
    this.#freeCheck = (o.minFreeBytes ?? 0) > 0 ? setInterval(() => this.#maybeSweep(), FREE_CHECK_MS) : null;
    this.#freeCheck?.unref();
  }

  /** Bytes of the copies counted now. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Copies counted now. */
  get count(): number {
    return this.#copies.size;
  }

  /** Counts the copies an earlier process left (see the header), then sweeps if over the bound. */
  async scan(): Promise<void> {
    const found: { file: string; stored: string; size: number; mtimeMs: number }[] = [];
    const walk = async (dir: string): Promise<void> => {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch {
        return;
      }
      for (const name of names) {
        const file = join(dir, name);
        if (FETCH_TEMP.test(name)) {
          await rm(file, { force: true }).catch(() => undefined);
          continue;
        }
        if (name.startsWith('.') || name.endsWith(PARTIAL_SUFFIX) || name === PID_FILE) continue;
        const st = await lstat(file).catch(() => null);
        if (st?.isDirectory()) await walk(file);
        else if (st?.isFile()) found.push({ file, stored: relative(this.#o.dataDir, file).split(sep).join('/'), size: st.size, mtimeMs: st.mtimeMs });
      }
    };
    await walk(join(this.#o.dataDir, 'videos'));
    found.sort((a, b) => a.mtimeMs - b.mtimeMs);
    for (const f of found) if (!this.#copies.has(f.file)) this.#put(f.file, { stored: f.stored, size: f.size, usedAt: -Infinity });
    this.#maybeSweep();
  }

  /** `file` (the copy of `stored`, `size` bytes) was just written or used. */
  used(file: string, stored: string, size: number): void {
    const had = this.#copies.get(file);
    if (had) this.#bytes -= had.size;
    this.#copies.delete(file);
    this.#put(file, { stored, size, usedAt: this.#now() });
    this.#maybeSweep();
  }

  /** `file` was used; false when it is not counted (the caller then stats it and calls `used`). */
  touch(file: string): boolean {
    const had = this.#copies.get(file);
    if (!had) return false;
    this.#copies.delete(file);
    had.usedAt = this.#now();
    this.#copies.set(file, had);
    return true;
  }

  /** Keeps `file` until the returned function is called (each call releases once). */
  hold(file: string): () => void {
    this.#held.set(file, (this.#held.get(file) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.#held.get(file) ?? 1) - 1;
      if (n > 0) this.#held.set(file, n);
      else this.#held.delete(file);
      this.#maybeSweep();
    };
  }

  /** Resolves once no delete of `file` is in progress. */
  settled(file: string): Promise<void> {
    return this.#going.get(file) ?? Promise.resolve();
  }

  /** Stops counting `file` (deleted by its owner). */
  forget(file: string): void {
    const had = this.#copies.get(file);
    if (!had) return;
    this.#copies.delete(file);
    this.#bytes -= had.size;
  }

  /** Stops sweeping; waits for a sweep in progress. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#freeCheck) clearInterval(this.#freeCheck);
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = null;
    await this.#sweep;
  }

  #put(file: string, copy: Copy): void {
    this.#copies.set(file, copy);
    this.#bytes += copy.size;
  }

  #maybeSweep(): void {
    if (this.#closed || !this.#over()) return;
    if (this.#sweep) {
      this.#again = true;
      return;
    }
    this.#sweep = this.#run().finally(() => {
      this.#sweep = null;
      if (this.#again) {
        this.#again = false;
        this.#maybeSweep();
      }
    });
  }

  async #run(): Promise<void> {
    const { minIdleMs } = this.#o;
    for (const [file, copy] of [...this.#copies]) {
      if (this.#closed || !this.#over()) return;
      if (!this.#evictable(file, copy)) continue;
      let whole: boolean;
      try {
        whole = await this.#o.storeHolds(copy.stored, copy.size);
      } catch (err) {
        this.#o.onError?.(copy.stored, err);
        continue;
      }
      // Used, held or replaced while the store answered: it stays.
      if (this.#copies.get(file) !== copy || !this.#evictable(file, copy)) continue;
      if (!whole) {
        // Not a copy of a stored object (never published, or removed from the store with its attempt):
        // not this cache's to delete. Counted no longer, so it cannot keep the cache over its bound.
        this.forget(file);
        continue;
      }
      this.forget(file);
      const going = rm(file, { force: true }).then(
        () => this.#o.onEvicted?.(copy.stored, copy.size),
        (err: unknown) => this.#o.onError?.(copy.stored, err),
      );
      this.#going.set(file, going);
      await going;
      this.#going.delete(file);
    }
    // Over the bound with only held or recent copies left: look again once the recent ones are idle.
    if (!this.#closed && this.#over() && this.#retry === null) {
      this.#retry = setTimeout(() => {
        this.#retry = null;
        this.#maybeSweep();
      }, Math.max(minIdleMs, 1_000));
      this.#retry.unref();
    }
  }

  /** Over the byte bound, or below the free-space floor with copies left to delete. */
  #over(): boolean {
    const { maxBytes, minFreeBytes = 0 } = this.#o;
    if (maxBytes > 0 && this.#bytes > maxBytes) return true;
    if (minFreeBytes <= 0 || this.#copies.size === 0) return false;
    const free = this.#freeBytes();
    return free !== null && free < minFreeBytes;
  }

  #evictable(file: string, copy: Copy): boolean {
    return !this.#held.has(file) && this.#now() - copy.usedAt >= this.#o.minIdleMs;
  }
}
