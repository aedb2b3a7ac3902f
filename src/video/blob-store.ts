/**
 * The video files beyond this server's data dir: a port with two adapters.
 *
 * - `localBlobs` (the embedded server): the data dir is the only store; nothing to copy.
 * - `ObjectStoreBlobs` (cluster mode, jetstream/object-store-blobs.ts): JetStream's object store holds
 *   every source and rendition, so any server can encode a video and serve its files. The data dir is
 *   then this server's cache of the store, with the same layout (storage.ts): an object is named by its
 *   stored path (`videos/<id>/source`, `videos/<id>/a<n>/240p.mp4`), the path the log records. The
 *   cache is bounded (`maxLocalBytes`, and `minFreeBytes` left free on its disk: local-copies.ts):
 *   copies used least recently are deleted, and `fetch` brings one back when it is used again.
 *
 * The order that keeps the log and the store consistent (invariant 7): a file is written and made
 * durable locally first (storage.ts), then `publish`ed to the store, and only then recorded in the log.
 * So a path in the log always names an object the store holds; a crash between the publish and the
 * record leaves an object nobody refers to (the next attempt or the upload's clean-up replaces or
 * deletes it), never a record without its object.
 *
 * Gotchas:
 * - Stored paths are immutable: each encode attempt writes into its own directory, and an upload's id is
 *   new. So a local copy, once complete, never goes stale, and `fetch` trusts a file that is there.
 * - `fetch` is given the absolute path `VideoStorage.absolute` checked: never a path from a request.
 */
import { access } from 'node:fs/promises';

export interface VideoBlobStore {
  /** `local` (the data dir only) or `jetstream` (the object store, the data dir as its cache). */
  readonly kind: 'local' | 'jetstream';
  /**
   * Copies the durable local file `file` (the absolute path of stored path `stored`) to the shared
   * store, unless the store already holds it with the same size; then sets the local file's mtime to
   * the object's, so every server has the same validators (ETag, Last-Modified) for it.
   */
  publish(stored: string, file: string): Promise<void>;
  /**
   * Makes `file` (the absolute path of `stored`) present on this server: nothing when it is, else a
   * download from the shared store (into a temporary name, renamed once complete and checked). False
   * when neither has it.
   */
  fetch(stored: string, file: string): Promise<boolean>;
  /**
   * Keeps the local copy `file` until the returned function is called (an encode reads its source for
   * its whole attempt): a bounded cache deletes only copies nobody holds.
   */
  hold(file: string): () => void;
  /** Deletes every object of video `id` (an upload the log refused). */
  removeVideo(id: string): Promise<void>;
  /**
   * Deletes the named objects, those there are (the renditions of an attempt a new one replaces; the
   * data dir's copies go with `VideoStorage.reapAttempts`).
   */
  removeFiles(stored: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

/** The embedded server's store: the data dir alone. */
export const localBlobs: VideoBlobStore = {
  kind: 'local',
  publish: () => Promise.resolve(),
  fetch: (_stored, file) =>
    access(file).then(
      () => true,
      () => false,
    ),
  hold: () => () => undefined,
  removeVideo: () => Promise.resolve(),
  removeFiles: () => Promise.resolve(),
  close: () => Promise.resolve(),
};

/** The bound on a cluster server's copies of the store, by default (10 GiB). */
export const DEFAULT_MAX_LOCAL_BYTES = 10 * 1024 ** 3;
/** A copy used this recently is never deleted (it may be about to be opened), by default. */
export const DEFAULT_MIN_IDLE_MS = 60_000;
/** Free space a cluster server's copies leave on the data dir's file system, by default (1 GiB). */
export const DEFAULT_MIN_FREE_BYTES = 1024 ** 3;

/** Where the cluster's object store lives (run-server.ts fills it from the cluster options). */
export interface ObjectStoreOptions {
  servers: string[];
  /** The bucket: one per group (`eventide-videos-<group>`). */
  bucket: string;
  /** Copies of the bucket's stream, as the log's partition streams (1, 3 or 5). */
  replicas: number;
  /** Bytes of copies the data dir keeps (default 10 GiB; 0: no bound): local-copies.ts. */
  maxLocalBytes?: number;
  /** Free bytes the copies leave on the data dir's file system (default 1 GiB; 0: no floor): local-copies.ts. */
  minFreeBytes?: number;
  /** A copy used this recently stays even over the bound (default 60 000 ms). */
  minIdleMs?: number;
  /** Told about each copy deleted (for logs). */
  onEvicted?(stored: string, size: number): void;
  /** Told when a copy could not be checked or deleted (it stays). */
  onCopyError?(stored: string, err: unknown): void;
}

/** The bucket of a group's video files. */
export function videoBucketOf(group: string): string {
  return `eventide-videos-${group}`;
}

/**
 * The object-store adapter, imported on first use only: the embedded server never loads the NATS
 * client (as the runtime's cluster node does).
 */
export async function openObjectStoreBlobs(o: ObjectStoreOptions, dataDir: string): Promise<VideoBlobStore> {
  const { ObjectStoreBlobs } = await import('./jetstream/object-store-blobs.js');
  return ObjectStoreBlobs.open(o, dataDir);
}
