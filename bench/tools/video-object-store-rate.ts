/**
 * Video files through the cluster's object store (src/video/jetstream/object-store-blobs.ts): how fast
 * one server publishes a file and another fetches it, on private nats-servers on loopback.
 *
 *   node --import tsx bench/tools/video-object-store-rate.ts [nats-servers: 1 or 3, default 1] [MiB=64] [runs=3]
 *
 * With 1 nats-server the bucket has 1 replica; with 3, 3 (as `EVENTIDE_REPLICAS` defaults). A publish
 * sends one 128 KiB chunk at a time and waits for its ack before reading the next, so its rate is the
 * chunk size over the publish round trip; a fetch is a push consumer under flow control.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openObjectStoreBlobs } from '../../src/video/index.js';
import { startNats } from '../../test/support/nats-servers.js';

const SERVERS = process.argv[2] === '3' ? 3 : 1;
const MIB = Number(process.argv[3] ?? 64);
const RUNS = Number(process.argv[4] ?? 3);

const nats = await startNats(SERVERS);
const dir = join(tmpdir(), `eventide-object-store-rate-${process.pid}`);
try {
  const o = { servers: nats.urls, bucket: 'eventide-videos-rate', replicas: SERVERS };
  const publisher = await openObjectStoreBlobs(o, join(dir, 'publisher'));
  const fetcher = await openObjectStoreBlobs(o, join(dir, 'fetcher'));
  const size = MIB * 2 ** 20;
  const rate = (ms: number): string => (MIB / (ms / 1000)).toFixed(1);
  for (let run = 0; run < RUNS; run++) {
    const stored = `videos/v-${run}/source`;
    const here = join(dir, 'publisher', stored);
    await mkdir(join(dir, 'publisher', 'videos', `v-${run}`), { recursive: true });
    await writeFile(here, randomBytes(size));
    const t0 = performance.now();
    await publisher.publish(stored, here);
    const t1 = performance.now();
    await fetcher.fetch(stored, join(dir, 'fetcher', stored));
    const t2 = performance.now();
    console.log(`R${SERVERS}, ${MIB} MiB, run ${run + 1}: publish ${rate(t1 - t0)} MiB/s, fetch ${rate(t2 - t1)} MiB/s`);
  }
  await publisher.close();
  await fetcher.close();
} finally {
  await nats.stop();
  await rm(dir, { recursive: true, force: true });
}
