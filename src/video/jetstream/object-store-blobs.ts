/**
 * The video files in JetStream's object store (cluster mode; blob-store.ts has the port and the order
 * of writes). One bucket per group, file storage, as many replicas as the log's partition streams; one
 * object per stored path. The only file of src/video/ that imports `@nats-io/*`.
 *
 * Memory stays bounded both ways: a put reads the local file a chunk at a time and publishes each
 * chunk (128 KiB) awaiting its ack before it reads on; a get writes the chunks to a temporary file as
 * they arrive, under the consumer's flow control. The client checks the object's SHA-256 digest on get;
 * the size is checked here, before the file is renamed into place.
 *
 * Gotchas:
 * - An object store put of an existing name replaces it (a new id, the old chunks purged): `publish`
 *   first asks for the object and skips a put when one of the same size is there, so a retried attempt
 *   does not change what other servers already hold (nor its mtime, hence the files' ETag).
 * - Right after a nats-server dies, requests may fail while the client reconnects: a put or get is
 *   tried again (from the start: a failed put purges its partial chunks) for up to `RETRY_MS`.
 * - Downloads of one path are shared: two requests for a file not cached yet start one download.
 * - The data dir's copies are bounded (`maxLocalBytes`, local-copies.ts): every file published or
 *   fetched is counted, and a fetch waits for a delete of its file in progress before it looks.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm, stat, utimes } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { Objm, StorageType, type ObjectStore } from '@nats-io/obj';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { ErrorCodes, RuntimeError } from '../../kernel/index.js';
import { DEFAULT_MAX_LOCAL_BYTES, DEFAULT_MIN_FREE_BYTES, DEFAULT_MIN_IDLE_MS, type ObjectStoreOptions, type VideoBlobStore } from '../blob-store.js';
import { FETCH_INFIX, LocalCopies } from '../local-copies.js';
import { commitFile } from '../storage.js';

/** How long a put or get is tried again after a transient failure (a nats-server restarting). */
const RETRY_MS = 30_000;
const RETRY_PAUSE_MS = 500;

export class ObjectStoreBlobs implements VideoBlobStore {
  readonly kind = 'jetstream';
  readonly #nc: NatsConnection;
  readonly #store: ObjectStore;
  readonly #downloads = new Map<string, Promise<boolean>>();
  readonly #copies: LocalCopies;

  private constructor(nc: NatsConnection, store: ObjectStore, o: ObjectStoreOptions, dataDir: string) {
    this.#nc = nc;
    this.#store = store;
    this.#copies = new LocalCopies({
      dataDir,
      maxBytes: o.maxLocalBytes ?? DEFAULT_MAX_LOCAL_BYTES,
      minIdleMs: o.minIdleMs ?? DEFAULT_MIN_IDLE_MS,
      minFreeBytes: o.minFreeBytes ?? DEFAULT_MIN_FREE_BYTES,
      storeHolds: async (stored, size) => {
        const there = await this.#store.info(stored);
        return there !== null && !there.deleted && there.size === size;
      },
      ...(o.onEvicted ? { onEvicted: o.onEvicted } : {}),
      ...(o.onCopyError ? { onError: o.onCopyError } : {}),
    });
  }

  /** Opens the group's bucket; `dataDir` holds this server's copies (counted now, bounded from here on). */
  static async open(o: ObjectStoreOptions, dataDir: string): Promise<ObjectStoreBlobs> {
    // As the log's connection: pings every 2 s, so a server that stops answering is left in ~10 s.
    const nc = await connect({ servers: o.servers, name: `eventide-videos`, maxReconnectAttempts: -1, pingInterval: 2_000, maxPingOut: 3, timeout: 2_000 });
    try {
      // Creates the bucket, or opens it when another server created it first.
      const store = await retrying('open the video bucket', () => new Objm(nc).create(o.bucket, { replicas: o.replicas, storage: StorageType.File }));
      const blobs = new ObjectStoreBlobs(nc, store, o, dataDir);
      await blobs.#copies.scan();
      return blobs;
    } catch (err) {
      await nc.close().catch(() => undefined);
      throw err;
    }
  }

  async publish(stored: string, file: string): Promise<void> {
    const { size } = await stat(file);
    const info = await retrying(`publish ${stored}`, async () => {
      const there = await this.#store.info(stored);
      if (there !== null && !there.deleted && there.size === size) return there;
      return this.#store.put({ name: stored }, Readable.toWeb(createReadStream(file, { highWaterMark: 128 * 1024 })) as unknown as ReadableStream<Uint8Array>);
    });
    const mtime = new Date(info.mtime);
    await utimes(file, mtime, mtime);
    this.#copies.used(file, stored, size);
  }

  fetch(stored: string, file: string): Promise<boolean> {
    let running = this.#downloads.get(file);
    if (running === undefined) {
      running = this.#download(stored, file).finally(() => this.#downloads.delete(file));
      this.#downloads.set(file, running);
    }
    return running;
  }

  hold(file: string): () => void {
    return this.#copies.hold(file);
  }

  async #download(stored: string, file: string): Promise<boolean> {
    await this.#copies.settled(file);
    if (this.#copies.touch(file)) {
      if (await exists(file)) return true;
      this.#copies.forget(file);
    } else {
      const there = await stat(file).catch(() => null);
      if (there !== null) {
        this.#copies.used(file, stored, there.size);
        return true;
      }
    }
    return retrying(`fetch ${stored}`, async () => {
      const got = await this.#store.get(stored);
      if (got === null) return false;
      await mkdir(dirname(file), { recursive: true });
      const tmp = `${file}${FETCH_INFIX}${randomBytes(6).toString('hex')}`;
      try {
        await pipeline(Readable.fromWeb(got.data as unknown as WebReadableStream<Uint8Array>), createWriteStream(tmp, { flags: 'wx' }));
        const failed = await got.error;
        if (failed) throw failed;
        const { size } = await stat(tmp);
        if (size !== got.info.size) throw new RuntimeError(ErrorCodes.Unavailable, `object ${stored} came ${size} bytes long, not ${got.info.size}`, {}, true);
        const mtime = new Date(got.info.mtime);
        await utimes(tmp, mtime, mtime);
        // Under its final name only once complete, checked (size here, digest by the client) and
        // durable: a copy there is trusted as it is (stored paths are immutable).
        await commitFile(tmp, file);
        this.#copies.used(file, stored, size);
        return true;
      } finally {
        await rm(tmp, { force: true });
      }
    });
  }

  async removeVideo(id: string): Promise<void> {
    const prefix = `videos/${id}/`;
    await retrying(`remove video ${id}`, async () => {
      for (const o of await this.#store.list()) if (o.name.startsWith(prefix) && !o.deleted) await this.#store.delete(o.name);
    });
  }

  async removeFiles(stored: readonly string[]): Promise<void> {
    for (const name of stored) {
      await retrying(`remove ${name}`, async () => {
        const there = await this.#store.info(name);
        if (there !== null && !there.deleted) await this.#store.delete(name);
      });
    }
  }

  async close(): Promise<void> {
    await this.#copies.close();
    await this.#nc.drain().catch(() => this.#nc.close());
  }
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

/** Runs `op`, again after a pause while it fails, for up to RETRY_MS; then fails `Unavailable` with the last reason. */
async function retrying<T>(what: string, op: () => Promise<T>): Promise<T> {
  const until = performance.now() + RETRY_MS;
  for (;;) {
    try {
      return await op();
    } catch (err) {
      if (RuntimeError.is(err) && !err.retriable) throw err;
      if (performance.now() + RETRY_PAUSE_MS > until) {
        throw new RuntimeError(ErrorCodes.Unavailable, `could not ${what} in the video object store: ${err instanceof Error ? err.message : String(err)}`.slice(0, 600), {}, true);
      }
      await new Promise((r) => setTimeout(r, RETRY_PAUSE_MS));
    }
  }
}
