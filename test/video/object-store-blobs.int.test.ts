/**
 * The object-store adapter of the video blob store (src/video/jetstream/object-store-blobs.ts) against a
 * real nats-server: what one server publishes, another fetches into its own data dir, whole, with the
 * same mtime (so both serve the same ETag); a second publish of the same file changes nothing; a file
 * the store does not hold is `false`; a video's objects are deleted together; a server's copies stay
 * under its bound (the least recently used go, a held one stays, a deleted one comes back on the next
 * fetch, copies left by an earlier process are counted at open); and the local adapter (the embedded
 * server's) only says whether the file is there.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localBlobs, openObjectStoreBlobs, videoBucketOf, type VideoBlobStore } from '../../src/video/index.js';
import { NATS_MISSING, natsServerAvailable, startNats, type NatsCluster } from '../support/nats-servers.js';
import { makeTempDir, removeDir } from '../support/temp-dirs.js';

const available = natsServerAvailable();

let nats: NatsCluster;
let dir: string;
let one: VideoBlobStore;
let two: VideoBlobStore;

/** The files under `root`, as paths relative to it. */
function readdirSyncFiles(root: string, at = root): string[] {
  return readdirSync(at).flatMap((name) => (statSync(join(at, name)).isDirectory() ? readdirSyncFiles(root, join(at, name)) : [relative(root, join(at, name))]));
}

async function put(file: string, bytes: Buffer): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, bytes);
}

describe.skipIf(!available)(available ? 'video files in the JetStream object store' : `video files in the JetStream object store (skipped: ${NATS_MISSING})`, () => {
  beforeAll(async () => {
    dir = await makeTempDir('object-store-blobs');
    nats = await startNats(1);
    const o = { servers: nats.urls, bucket: videoBucketOf('blobs-test'), replicas: 1 };
    // Two servers of one group: the second opens the bucket the first created.
    one = await openObjectStoreBlobs(o, join(dir, 'one'));
    two = await openObjectStoreBlobs(o, join(dir, 'two'));
  }, 60_000);

  afterAll(async () => {
    await one?.close();
    await two?.close();
    await nats?.stop();
    await removeDir(dir);
  });

  it('lets another server fetch what one published: the same bytes and mtime, in several chunks', async () => {
    const stored = 'videos/v-1/a1/240p.mp4';
    const here = join(dir, 'one', stored);
    const there = join(dir, 'two', stored);
    // Over a chunk (128 KiB) several times, and not a multiple of it.
    const bytes = Buffer.from(Array.from({ length: 700_001 }, (_, i) => (i * 31) & 0xff));
    await put(here, bytes);
    await one.publish(stored, here);

    expect(await two.fetch(stored, there)).toBe(true);
    expect((await readFile(there)).equals(bytes)).toBe(true);
    const [a, b] = await Promise.all([stat(here), stat(there)]);
    expect(b.mtimeMs).toBe(a.mtimeMs);
    // Nothing but the file itself is left in the directory (the temporary name was renamed).
    expect(await readdir(dirname(there))).toEqual(['240p.mp4']);
  });

  it('publishes a file the store holds already once: a second publish changes neither the object nor its mtime', async () => {
    const stored = 'videos/v-2/source';
    const here = join(dir, 'one', stored);
    await put(here, Buffer.from('a source'));
    await one.publish(stored, here);
    const first = (await stat(here)).mtimeMs;
    await new Promise((r) => setTimeout(r, 20));
    await one.publish(stored, here);
    expect((await stat(here)).mtimeMs).toBe(first);
    const there = join(dir, 'two', stored);
    expect(await two.fetch(stored, there)).toBe(true);
    expect((await stat(there)).mtimeMs).toBe(first);
  });

  it('answers false for a file the store does not hold, and shares one download between concurrent fetches', async () => {
    expect(await two.fetch('videos/v-none/source', join(dir, 'two', 'videos/v-none/source'))).toBe(false);
    const stored = 'videos/v-3/a1/360p.mp4';
    const here = join(dir, 'one', stored);
    await put(here, Buffer.alloc(300_000, 5));
    await one.publish(stored, here);
    const there = join(dir, 'two', stored);
    const got = await Promise.all([two.fetch(stored, there), two.fetch(stored, there), two.fetch(stored, there)]);
    expect(got).toEqual([true, true, true]);
    expect((await stat(there)).size).toBe(300_000);
  });

  it('removes every object of one video and no other', async () => {
    for (const stored of ['videos/v-4/source', 'videos/v-4/a1/240p.mp4', 'videos/v-40/source']) {
      const here = join(dir, 'one', stored);
      await put(here, Buffer.from(stored));
      await one.publish(stored, here);
    }
    await one.removeVideo('v-4');
    expect(await two.fetch('videos/v-4/source', join(dir, 'three', 'videos/v-4/source'))).toBe(false);
    expect(await two.fetch('videos/v-4/a1/240p.mp4', join(dir, 'three', 'videos/v-4/a1/240p.mp4'))).toBe(false);
    expect(await two.fetch('videos/v-40/source', join(dir, 'three', 'videos/v-40/source'))).toBe(true);
  });

  it('removes the named objects there are, and ignores the others', async () => {
    const kept = 'videos/v-5/a2/240p.mp4';
    const gone = 'videos/v-5/a1/240p.mp4';
    for (const stored of [kept, gone]) {
      const here = join(dir, 'one', stored);
      await put(here, Buffer.from(stored));
      await one.publish(stored, here);
    }
    await one.removeFiles([gone, 'videos/v-5/a1/360p.mp4']);
    expect(await two.fetch(gone, join(dir, 'four', gone))).toBe(false);
    expect(await two.fetch(kept, join(dir, 'four', kept))).toBe(true);
  });

  it("keeps a server's copies under its bound: the least recently used go, a held one stays, a deleted one is fetched again whole", async () => {
    const o = { servers: nats.urls, bucket: videoBucketOf('blobs-test'), replicas: 1 };
    const evicted: string[] = [];
    const home = join(dir, 'bounded');
    const names = ['videos/v-6/source', 'videos/v-7/source', 'videos/v-8/source', 'videos/v-9/source'];
    const small = await openObjectStoreBlobs({ ...o, maxLocalBytes: 700_000, minFreeBytes: 0, minIdleMs: 0, onEvicted: (stored) => evicted.push(stored) }, home);
    try {
      const bytesOf = (i: number) => Buffer.alloc(300_000, i + 1);
      for (const [i, stored] of names.entries()) {
        const here = join(dir, 'one', stored);
        await put(here, bytesOf(i));
        await one.publish(stored, here);
      }
      const at = (stored: string) => join(home, stored);
      const release = small.hold(at(names[0]!));
      for (const stored of names.slice(0, 3)) expect(await small.fetch(stored, at(stored))).toBe(true);
      // 900 000 > 700 000: one copy goes, and not the held one: the least recently used of the others.
      await expect.poll(() => evicted).toEqual([names[1]]);
      expect(existsSync(at(names[0]!))).toBe(true);
      release();
      expect(await small.fetch(names[3]!, at(names[3]!))).toBe(true);
      await expect.poll(() => evicted).toEqual([names[1], names[0]]);
      // Used again: fetched from the store, whole.
      expect(await small.fetch(names[1]!, at(names[1]!))).toBe(true);
      expect((await readFile(at(names[1]!))).equals(bytesOf(1))).toBe(true);
      await expect.poll(() => evicted.length).toBe(3);
      expect(evicted[2]).toBe(names[2]);
    } finally {
      await small.close();
    }

    // An earlier process's copies are counted at open; a file the store does not hold is never deleted.
    // The orphan is the oldest file, so the sweep meets it first.
    await put(join(home, 'videos/v-orphan/source'), Buffer.alloc(400_000, 9));
    await utimes(join(home, 'videos/v-orphan/source'), 1_000, 1_000);
    const reopened = await openObjectStoreBlobs({ ...o, maxLocalBytes: 350_000, minFreeBytes: 0, minIdleMs: 0, onEvicted: (stored) => evicted.push(stored) }, home);
    try {
      await expect.poll(() => evicted.length).toBe(4);
      expect(evicted[3]).toBe(names[1]); // the orphan, older still, was passed over
      expect(existsSync(join(home, 'videos/v-orphan/source'))).toBe(true);
      expect(readdirSyncFiles(home).sort()).toEqual(['videos/v-orphan/source', names[3]!].sort());
    } finally {
      await reopened.close();
    }
  });
});

describe('the local blob store (the embedded server)', () => {
  it('says whether the file is in the data dir, and publishes nothing', async () => {
    const local = await makeTempDir('local-blobs');
    try {
      const file = join(local, 'videos/v-1/source');
      expect(await localBlobs.fetch('videos/v-1/source', file)).toBe(false);
      await put(file, Buffer.from('x'));
      await localBlobs.publish('videos/v-1/source', file);
      expect(await localBlobs.fetch('videos/v-1/source', file)).toBe(true);
      expect(localBlobs.kind).toBe('local');
    } finally {
      await removeDir(local);
    }
  });
});
