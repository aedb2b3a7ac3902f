/**
 * The bound on a cluster server's copies of the video object store (src/video/local-copies.ts), with a
 * store stand-in and a fake clock: over the bound the least recently used copies go first, only those
 * the store holds whole, never one held or used within `minIdleMs`; a sweep left over the bound by such
 * copies tries again; copies an earlier process left are found at open, temporary files skipped.
 */
import { existsSync } from 'node:fs';
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FREE_CHECK_MS, LocalCopies, type LocalCopiesOptions } from '../../src/video/local-copies.js';
import { makeTempDir, removeDir } from '../support/temp-dirs.js';

let dir: string;
let now: number;
/** What the stand-in store holds: stored path -> size. */
let store: Map<string, number>;
let evicted: string[];

beforeEach(async () => {
  dir = await makeTempDir('local-copies');
  now = 1_000_000;
  store = new Map();
  evicted = [];
});
afterEach(async () => {
  vi.useRealTimers();
  await removeDir(dir);
});

function copies(o: Partial<LocalCopiesOptions> = {}): LocalCopies {
  return new LocalCopies({
    dataDir: dir,
    maxBytes: 1_000,
    minIdleMs: 60_000,
    storeHolds: async (stored, size) => store.get(stored) === size,
    now: () => now,
    onEvicted: (stored) => evicted.push(stored),
    ...o,
  });
}

/** Writes a file of `size` bytes at stored path `stored` and says whether the store holds it. */
async function file(stored: string, size: number, inStore = true): Promise<string> {
  const abs = join(dir, stored);
  await mkdir(dirname(abs), { recursive: true });
  await writeFile(abs, Buffer.alloc(size, 7));
  if (inStore) store.set(stored, size);
  return abs;
}

/** Lets a sweep (a chain of awaits on the stand-in store and `rm`) run to its end. */
async function settle(c: LocalCopies, files: string[]): Promise<void> {
  for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
  await Promise.all(files.map((f) => c.settled(f)));
}

describe('LocalCopies', () => {
  it('deletes the copies used least recently, idle ones only, until under the bound', async () => {
    const c = copies();
    const [a, b, d] = [await file('videos/v-a/source', 400), await file('videos/v-b/source', 400), await file('videos/v-d/source', 400)];
    c.used(a, 'videos/v-a/source', 400);
    now += 1;
    c.used(b, 'videos/v-b/source', 400);
    now += 1;
    expect(c.touch(a)).toBe(true); // a is now used more recently than b
    now += 60_000; // both idle
    c.used(d, 'videos/v-d/source', 400); // 1 200 > 1 000: one must go, and d is recent
    await settle(c, [a, b, d]);
    expect(evicted).toEqual(['videos/v-b/source']);
    expect([existsSync(a), existsSync(b), existsSync(d)]).toEqual([true, false, true]);
    expect(c.bytes).toBe(800);
    expect(c.count).toBe(2);
    await c.close();
  });

  it('keeps a copy someone holds, and one used within minIdleMs, over the bound; a later sweep deletes them once released and idle', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const c = copies({ maxBytes: 500 });
    const a = await file('videos/v-a/source', 400);
    const b = await file('videos/v-b/source', 400);
    const release = c.hold(a);
    c.used(a, 'videos/v-a/source', 400);
    c.used(b, 'videos/v-b/source', 400);
    await settle(c, [a, b]);
    expect(evicted).toEqual([]); // a is held, b was just used
    now += 60_000;
    await vi.advanceTimersByTimeAsync(60_000); // the retry: b is idle now, a still held
    await settle(c, [a, b]);
    expect(evicted).toEqual(['videos/v-b/source']);
    expect(existsSync(a)).toBe(true);
    release();
    release(); // a second call releases nothing more
    await settle(c, [a]);
    expect(evicted).toEqual(['videos/v-b/source']); // 400 <= 500: under the bound, a stays
    await c.close();
  });

  it('never deletes a file the store does not hold whole, and stops counting it', async () => {
    const c = copies({ maxBytes: 100, minIdleMs: 0 });
    const orphan = await file('videos/v-o/source', 300, false); // an upload that never reached the store
    const shorter = await file('videos/v-s/source', 300);
    store.set('videos/v-s/source', 299); // the store's object is not this file
    c.used(orphan, 'videos/v-o/source', 300);
    c.used(shorter, 'videos/v-s/source', 300);
    await settle(c, [orphan, shorter]);
    expect(evicted).toEqual([]);
    expect([existsSync(orphan), existsSync(shorter)]).toEqual([true, true]);
    expect(c.bytes).toBe(0);
    await c.close();
  });

  it('keeps a copy when the store cannot answer, and says so', async () => {
    const errors: string[] = [];
    const c = copies({ maxBytes: 100, minIdleMs: 0, storeHolds: () => Promise.reject(new Error('no responders')), onError: (stored) => errors.push(stored) });
    const a = await file('videos/v-a/source', 300);
    c.used(a, 'videos/v-a/source', 300);
    await settle(c, [a]);
    expect(existsSync(a)).toBe(true);
    expect(errors).toEqual(['videos/v-a/source']);
    expect(c.bytes).toBe(300);
    await c.close();
  });

  it('finds the copies an earlier process left, oldest first, skipping temporary files (deleting unfinished downloads), and sweeps them at open', async () => {
    const old = await file('videos/v-old/a1/240p.mp4', 400);
    const mid = await file('videos/v-mid/source', 400);
    const fresh = await file('videos/v-new/source', 400);
    await utimes(old, 1_000, 1_000);
    await utimes(mid, 2_000, 2_000);
    await utimes(fresh, 3_000, 3_000);
    const partial = await file('videos/v-new/a1/360p.mp4.partial', 5_000, false);
    const fetching = await file('videos/v-new/source.fetch-0a1b2c', 5_000, false); // a download cut short
    const pid = await file('videos/v-new/a1/ffmpeg.pid', 10, false);
    const c = copies();
    await c.scan();
    await settle(c, [old, mid, fresh]);
    expect(evicted).toEqual(['videos/v-old/a1/240p.mp4']);
    expect(c.bytes).toBe(800);
    expect([existsSync(partial), existsSync(fetching), existsSync(pid)]).toEqual([true, false, true]);
    await c.close();
  });

  it('has no bound at 0, and makes a fetch of a file being deleted wait for the delete', async () => {
    const unbounded = copies({ maxBytes: 0, minIdleMs: 0 });
    const a = await file('videos/v-a/source', 5_000);
    unbounded.used(a, 'videos/v-a/source', 5_000);
    await settle(unbounded, [a]);
    expect(existsSync(a)).toBe(true);
    await unbounded.close();

    const c = copies({ maxBytes: 100, minIdleMs: 0 });
    c.used(a, 'videos/v-a/source', 5_000);
    // The delete starts once the store has answered; `settled` resolves after the file is gone.
    for (let i = 0; i < 50 && existsSync(a); i++) {
      await c.settled(a);
      await new Promise((r) => setImmediate(r));
    }
    await c.settled(a);
    expect(existsSync(a)).toBe(false);
    expect(evicted).toEqual(['videos/v-a/source']);
    await c.close();
  });
});

describe('LocalCopies, the free-space floor', () => {
  it('deletes idle copies, least recently used first, while the disk has less free than minFreeBytes, with no byte bound', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setTimeout', 'clearTimeout'] });
    let free = 10_000;
    const c = copies({ maxBytes: 0, minIdleMs: 0, minFreeBytes: 1_000, freeBytes: () => free, onEvicted: (stored, size) => (evicted.push(stored), (free += size)) });
    const [a, b, d] = [await file('videos/v-a/source', 400), await file('videos/v-b/source', 400), await file('videos/v-d/source', 400)];
    c.used(a, 'videos/v-a/source', 400);
    c.used(b, 'videos/v-b/source', 400);
    c.used(d, 'videos/v-d/source', 400);
    await settle(c, [a, b, d]);
    expect(evicted).toEqual([]); // plenty free

    free = 500; // the log (or anything else) filled the disk: the periodic check notices
    await vi.advanceTimersByTimeAsync(FREE_CHECK_MS);
    vi.useRealTimers();
    // 500 -> 900 -> 1 300: enough. Two deletes one after the other: wait for the second.
    await vi.waitFor(() => expect(evicted).toEqual(['videos/v-a/source', 'videos/v-b/source']));
    await settle(c, [a, b, d]);
    expect(evicted).toHaveLength(2);
    expect([existsSync(a), existsSync(b), existsSync(d)]).toEqual([false, false, true]);
    await c.close();
  });

  it('leaves the copies alone when the free space is unknown or the floor is 0', async () => {
    for (const o of [{ minFreeBytes: 1_000, freeBytes: () => null }, { minFreeBytes: 0, freeBytes: () => 0 }]) {
      const c = copies({ maxBytes: 0, minIdleMs: 0, ...o });
      const a = await file('videos/v-a/source', 400);
      c.used(a, 'videos/v-a/source', 400);
      await settle(c, [a]);
      expect(existsSync(a)).toBe(true);
      await c.close();
    }
    expect(evicted).toEqual([]);
  });
});
