/**
 * The durable event log: one LMDB environment per data dir, shared by the main thread and every actor
 * worker (lmdb-js shares one native environment per path across the threads of a process). This module
 * opens it and its databases, checks the data dir first, and keeps the format record and the manifest.
 *
 * Databases:
 * - `meta`       format version and the partition count P, fixed when the data dir is created.
 * - `events`     [aggregateType, id, seq] -> event. Keyed by stream so hydration is one forward range scan.
 * - `partitions` [partition, firstOffset] -> [[aggregateType, id, seq], ...]: the partition's log, in
 *                offset order, for subscribers (projections, the feed, the video reactor). One record
 *                holds the refs of a run of consecutive offsets written by one commit (at most
 *                INDEX_RUN of them): a batch of commands costs one index put per partition, not one
 *                per event. Records are only ever added, never rewritten (invariant 3).
 * - `commands`   [aggregateType, id, commandId] -> [firstSeq, lastSeq]. Idempotency: a retried command
 *                returns its first result and writes nothing.
 * - `snapshots`  [aggregateType, id, version] -> [snapshotVersion, state, ts]. Several per stream, so the
 *                time machine can start from the nearest one at or below a target version.
 * - `pages`      [aggregateType, id, firstSeq] -> [event, ...]: EVENT_PAGE consecutive events of a stream
 *                in one record (derived data, like a snapshot: written once, after those events are
 *                durable, never rewritten). Hydration folds a page with one cursor step, one checksum
 *                and one decode instead of EVENT_PAGE of each; a page that is missing (not written
 *                yet, lost in a crash) only means those events are read one by one.
 * - `writers`    [writerId] -> mark, with an LMDB entry version: the chain that orders pipelined batches;
 *                ['owner'] -> who owns the data dir, with the owner *epoch* as its entry version (fence).
 * - `stream_meta` [aggregateType, id or ''] -> retention settings of a stream or of a whole type, and
 *                the scavenge's low-water marks ([aggregateType, id, '#start'], [partition]) (stream-meta.ts,
 *                prefix-removal.ts; docs/data-lifecycle.md). Absent in data dirs made before it; created
 *                by the first writable open (no format change: a dir with no marks reads as before).
 * Plus the view store's databases (view-store.ts). Which module reads and writes which: streams.ts
 * (`events`, `commands`), partition-index.ts, snapshots.ts, pages.ts, fence.ts and write-chain.ts
 * (`writers`); stored-event.ts is the shape of an event record, record-codec.ts the framing of all.
 *
 * Gotchas:
 * - Never open with `noSync`, `mapAsync` or `useWritemap`; never mix lmdb-js versions on one data dir.
 */
import { mkdirSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';
import { join } from 'node:path';
import { open, type Database, type Key, type RootDatabase } from 'lmdb';
import { ErrorCodes, RuntimeError, systemClock } from '../../kernel/index.js';
import { checkDataDir, LOG_FILE, readManifest, writeManifest } from './data-dir-check.js';
import { asLogError } from './storage-errors.js';
import { LmdbViewStore } from './view-store.js';
import type { EventLogOptions } from '../port.js';

/**
 * 3: record checksums cover the record's address (database and key) as well as its value; the owner
 * epoch lives in `writers`. 2: the partition index holds runs of refs (format 1 held one ref per record).
 */
export const LOG_FORMAT_VERSION = 3;

/** One of the log's databases: ordered-binary keys, framed values (record-codec.ts). */
export type LogDb = Database<Buffer, Key[]>;

/** A database a read-only open may not find (one added after the data dir was made): undefined then. */
function openOptional(root: RootDatabase, name: string, options: { encoding: 'binary'; keyEncoding: 'ordered-binary' }, readOnly: boolean): LogDb | undefined {
  if (!readOnly) return root.openDB(name, options) as unknown as LogDb;
  try {
    return root.openDB(name, options) as unknown as LogDb;
  } catch {
    return undefined;
  }
}

/** The environment of one data dir and its databases, as this thread opened them. */
export class LmdbEnvironment {
  readonly path: string;
  readonly partitions: number;
  readonly root: RootDatabase;
  readonly events: LogDb;
  readonly partlog: LogDb;
  readonly commands: LogDb;
  readonly snapshots: LogDb;
  readonly pages: LogDb;
  readonly writers: LogDb;
  /** Retention settings (stream-meta.ts); undefined in a read-only open of a dir made before it existed. */
  readonly streamMeta: LogDb | undefined;
  /** Read-model rows and checkpoints, in the same environment (see view-store.ts). */
  readonly views: LmdbViewStore;

  constructor(path: string, options: EventLogOptions) {
    this.path = path;
    mkdirSync(path, { recursive: true });
    // Before LMDB maps the file: a truncated or damaged file would crash the process without a word,
    // and a missing one would be recreated empty (data-dir-check.ts). Worker threads open an environment
    // the main thread already checked and opened (lmdb-js shares it): no second look at a live file.
    const exists = isMainThread ? checkDataDir(path) : true;
    if (!exists && options.readOnly) throw new RuntimeError(ErrorCodes.InvalidOptions, `no event log in ${path} (no ${LOG_FILE}): check the data dir path`, { path });
    this.root = open({
      path: join(path, LOG_FILE),
      maxDbs: 16,
      // Explicit, so nobody "optimises" them in: each would trade invariant 2 away (so would mapAsync).
      noSync: false,
      useWritemap: false,
      readOnly: options.readOnly ?? false,
    });
    const binary = { encoding: 'binary' as const, keyEncoding: 'ordered-binary' as const };
    this.events = this.root.openDB('events', binary) as unknown as LogDb;
    this.partlog = this.root.openDB('partitions', binary) as unknown as LogDb;
    this.commands = this.root.openDB('commands', binary) as unknown as LogDb;
    this.snapshots = this.root.openDB('snapshots', binary) as unknown as LogDb;
    this.pages = this.root.openDB('pages', binary) as unknown as LogDb;
    // One marker per writer, versioned: the guard of pipelined batches (startWriteChain).
    this.writers = this.root.openDB('writers', { ...binary, useVersions: true }) as unknown as LogDb;
    this.streamMeta = openOptional(this.root, 'stream_meta', binary, options.readOnly ?? false);
    this.views = new LmdbViewStore(this.root);
    this.partitions = this.#resolvePartitions(options);
  }

  #resolvePartitions(options: EventLogOptions): number {
    const meta = this.root.openDB('meta', { encoding: 'msgpack' });
    const stored = meta.get('format') as { version: number; partitions: number } | undefined;
    if (stored) {
      if (stored.version !== LOG_FORMAT_VERSION) {
        throw new RuntimeError(ErrorCodes.InvalidOptions, `data dir ${this.path} has log format ${stored.version}; this build reads ${LOG_FORMAT_VERSION}`);
      }
      if (!options.readOnly && !readManifest(this.path)) {
        // A data dir from before manifests: record now that a log lives here.
        writeManifest(this.path, { format: stored.version, partitions: stored.partitions, created: new Date((stored as { created?: number }).created ?? systemClock.now()).toISOString(), log: LOG_FILE });
      }
      if (options.partitions !== undefined && options.partitions !== stored.partitions) {
        throw new RuntimeError(
          ErrorCodes.PartitionMismatch,
          `data dir ${this.path} was created with ${stored.partitions} partitions; reopening it with ${options.partitions} would move aggregates to other partitions. Omit 'partitions' or pass ${stored.partitions}.`,
          { stored: stored.partitions, requested: options.partitions },
        );
      }
      return stored.partitions;
    }
    if (options.readOnly) throw new RuntimeError(ErrorCodes.InvalidOptions, `no event log in ${this.path}`);
    const partitions = options.partitions ?? 16;
    const created = systemClock.now();
    meta.putSync('format', { version: LOG_FORMAT_VERSION, partitions, created });
    // From now on a missing or empty log.mdb in this data dir is damage, not a new data dir.
    writeManifest(this.path, { format: LOG_FORMAT_VERSION, partitions, created: new Date(created).toISOString(), log: LOG_FILE });
    return partitions;
  }

  /**
   * Makes this thread's next reads see every commit made so far, by any thread. lmdb-js keeps a thread's
   * read snapshot until a timer tick renews it, so a read right after another thread's commit was
   * acknowledged could miss it; callers that promise read-your-writes call this first.
   */
  refreshReads(): void {
    this.root.resetReadTxn();
  }

  /**
   * LMDB's own damage report as `CorruptLog`, and a fresh read transaction: after an error LMDB marks the
   * thread's read transaction failed, and every later read of this thread would fail with MDB_BAD_TXN,
   * undamaged streams included.
   */
  damaged(err: unknown, what: string, partition?: number): unknown {
    const mapped = asLogError(err, what, partition);
    if (mapped !== err) this.root.resetReadTxn();
    return mapped;
  }

  /**
   * A failed transaction's flush promise never settles in lmdb-js, and `close()` waits for it: after a
   * failure with no successful write since (`unsettledWrite`, see write-chain.ts), the handle is let go
   * without waiting (the native environment is shared by the process and closed with it), so shutdown
   * stays prompt.
   */
  async close(unsettledWrite: boolean): Promise<void> {
    if (unsettledWrite) {
      this.root.close().catch(() => undefined);
      return;
    }
    await this.root.close();
  }
}
