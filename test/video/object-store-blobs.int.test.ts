/**
 * The object-store adapter of the video blob store (src/video/jetstream/object-store-blobs.ts) against a
 * real nats-server: what one server publishes, another fetches into its own data dir, whole, with the
 * same mtime (so both serve the same ETag); a second publish of the same file changes nothing; a file
 * the store does not hold is `false`; a video's objects are deleted together; and the local adapter
 * (the embedded server's) only says whether the file is there.
 */
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localBlobs, openObjectStoreBlobs, videoBucketOf, type VideoBlobStore } from '../../src/video/index.js';
import { NATS_MISSING, natsServerAvailable, startNats, type NatsCluster } from '../support/nats-servers.js';
import { makeTempDir, removeDir } from '../support/temp-dirs.js';

const available = natsServerAvailable();

let nats: NatsCluster;
let dir: string;
let one: VideoBlobStore;
let two: VideoBlobStore;

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
    one = await openObjectStoreBlobs(o);
    two = await openObjectStoreBlobs(o);
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
