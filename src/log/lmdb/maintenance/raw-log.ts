/**
 * Raw, read-mostly access to a data dir's LMDB environment for the maintenance tools (verify, backup,
 * salvage). Unlike `LmdbLog`, this handle decodes nothing by itself: keys come back as the stored bytes,
 * so a record whose key is damaged can still be named, and each tool decides what a bad record means.
 *
 * Why its own `open` and not an accessor on LmdbLog: lmdb-js shares one native environment per file
 * within a process (reference counted by device and inode), so opening the same `log.mdb` here, beside a
 * live runtime, maps nothing twice and takes no second writer slot; closing it only drops our reference.
 * That keeps the tools out of lmdb-log.ts and the modules it composes.
 *
 * Gotchas:
 * - `openRawLog` refuses a data dir without a log (a mistyped path must never create an empty log).
 * - Database names and the key layout are the log's format (environment.ts, LOG_FORMAT_VERSION): keep them in step.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as lmdb from 'lmdb';
import { open, type Database, type RootDatabase } from 'lmdb';
import { ErrorCodes, RuntimeError } from '../../../kernel/index.js';
import { corruptRecord } from '../../record-codec.js';
import { checkDataDir, LOG_FILE } from '../data-dir-check.js';
import { asLogError } from '../storage-errors.js';

export { LOG_FILE };

/** The framed (checksummed) databases of the log and of the view store, in verify order. */
export const FRAMED_DBS = ['events', 'partitions', 'commands', 'snapshots', 'pages', 'view_rows', 'view_checkpoints', 'view_meta'] as const;
export type FramedDb = (typeof FRAMED_DBS)[number];


export interface RawLog {
  readonly dataDir: string;
  readonly root: RootDatabase;
  /** Framed databases, keys as raw bytes (decode with `decodeKey`). */
  readonly dbs: Readonly<Record<FramedDb, Database<Buffer, Buffer>>>;
  /** `writers` (versioned, unframed) with raw keys. */
  readonly writers: Database<Buffer, Buffer>;
  /**
   * `events` for lookups by address (`[type, id, seq]`), with the log's own key encoding. Never look a
   * key up (or seek to one) through a raw-key handle in a process whose runtime has the log open: its
   * ordered-binary handles set lmdb-js's `compareFast` on the database, environment-wide, and that
   * comparator reads the searched key in 4-byte words, assuming zero padding that only the
   * ordered-binary key writer adds. A raw key of 26 or 27 bytes then compared against garbage and a
   * live verify reported intact events as missing (ids of 8 or 9 characters under `account`).
   */
  readonly eventsByRef: Database<Buffer, (string | number)[]>;
  /** `stream_meta` (retention settings, the scavenge's marks) by address; undefined in dirs made before it. */
  readonly streamMeta: Database<Buffer, (string | number)[]> | undefined;
  /** `snapshots` by address (`[type, id, version]`), with the log's own key encoding (see `eventsByRef`). */
  readonly snapshotsByRef: Database<Buffer, (string | number)[]>;
  /** The `meta` record `format`: undefined when absent or unreadable (see `metaError`). */
  readonly format: { version: number; partitions: number; created?: number } | undefined;
  readonly metaError: string | undefined;
  close(): Promise<void>;
}

/** Where a data dir keeps its log file. */
export function logFileOf(dataDir: string): string {
  return join(dataDir, LOG_FILE);
}

/** True when `dataDir` holds a non-empty log file. */
export function hasLog(dataDir: string): boolean {
  const file = logFileOf(dataDir);
  return existsSync(file) && statSync(file).size > 0;
}

export function noLogError(dataDir: string): RuntimeError {
  return new RuntimeError(ErrorCodes.InvalidOptions, `no event log in ${dataDir} (no ${LOG_FILE} there, or it is empty): check the data dir path`, { dataDir, reason: 'no-log' });
}

/** Opens the log of `dataDir` for reading (or, with `readOnly: false`, writing: salvage's target only). */
export function openRawLog(dataDir: string, options: { readOnly?: boolean } = {}): RawLog {
  if (!hasLog(dataDir)) throw noLogError(dataDir);
  // Meta pages and size first: a truncated file would end this process in SIGBUS, not in a report.
  checkDataDir(dataDir);
  const readOnly = options.readOnly ?? true;
  const root = open({ path: logFileOf(dataDir), maxDbs: 16, readOnly, noSync: false, useWritemap: false });
  try {
    const binary = { encoding: 'binary' as const, keyEncoding: 'binary' as const };
    const dbs = Object.fromEntries(FRAMED_DBS.map((name) => [name, root.openDB(name, binary) as unknown as Database<Buffer, Buffer>])) as Record<FramedDb, Database<Buffer, Buffer>>;
    const writers = root.openDB('writers', { ...binary, useVersions: true }) as unknown as Database<Buffer, Buffer>;
    const eventsByRef = root.openDB('events', { encoding: 'binary', keyEncoding: 'ordered-binary' }) as unknown as Database<Buffer, (string | number)[]>;
    const snapshotsByRef = root.openDB('snapshots', { encoding: 'binary', keyEncoding: 'ordered-binary' }) as unknown as Database<Buffer, (string | number)[]>;
    let streamMeta: RawLog['streamMeta'];
    try {
      streamMeta = root.openDB('stream_meta', { encoding: 'binary', keyEncoding: 'ordered-binary' }) as unknown as Database<Buffer, (string | number)[]>;
    } catch {
      // A read-only open of a dir made before stream_meta existed: no marks, nothing was scavenged.
    }
    let format: RawLog['format'];
    let metaError: string | undefined;
    try {
      const meta = root.openDB('meta', { encoding: 'msgpack' });
      const stored = meta.get('format') as RawLog['format'] | undefined;
      if (!stored || typeof stored.version !== 'number' || typeof stored.partitions !== 'number' || !(stored.partitions >= 1)) metaError = `meta 'format' is ${stored ? 'malformed' : 'missing'}`;
      else format = stored;
    } catch (err) {
      metaError = `meta 'format' unreadable: ${(err as Error).message}`;
    }
    return { dataDir, root, dbs, writers, eventsByRef, streamMeta, snapshotsByRef, format, metaError, close: () => root.close() };
  } catch (err) {
    void root.close();
    throw asLogError(err, `the log file of ${dataDir}`);
  }
}

// lmdb-js exports ordered-binary's key codec (index.js) without declaring it in index.d.ts.
const keyCodec = lmdb as unknown as { bufferToKeyValue(buf: Buffer): unknown; keyValueToBuffer(key: unknown): Buffer };

/** A stored key as the log wrote it (ordered-binary parts); throws on bytes that are no such key. */
export function decodeKey(raw: Buffer): (string | number)[] {
  const k = keyCodec.bufferToKeyValue(raw);
  const parts = Array.isArray(k) ? k : [k];
  for (const p of parts) if (typeof p !== 'string' && typeof p !== 'number') throw corruptRecord('(key)', raw.toString('hex'), 'a key part is neither a string nor a number');
  return parts as (string | number)[];
}

/** How a key is shown in a report: its parts as JSON, or its bytes in hex when they are no key. */
export function showKey(raw: Buffer): string {
  try {
    return JSON.stringify(decodeKey(raw));
  } catch {
    return `0x${raw.toString('hex').slice(0, 200)}`;
  }
}
