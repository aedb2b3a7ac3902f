/**
 * Checks a data dir *before* LMDB maps its file, and keeps the data dir's manifest.
 *
 * Why: LMDB trusts its file. A log truncated below its last page in use makes the first read of a
 * missing page a SIGBUS; a damaged magic in the newest meta page can end in a SIGSEGV; both kill the
 * process without a word. And a log file that is gone or empty is simply created anew, so a server
 * whose disk lost the file starts "healthy" with no history. So, before mapping:
 * - each of the two meta pages (pages 0 and 1) is read: magic, data version, page size, last page in
 *   use, transaction id. The newest valid one is what LMDB will use; the file must be at least
 *   (last page + 1) pages long. A damaged meta page is named (LMDB keeps two so that one torn write
 *   never loses the environment, but it picks by txnid and may pick the damaged one).
 * - `manifest.json` says a log was created in this data dir (format, partitions, when). With a manifest,
 *   a missing or empty `log.mdb` is refused instead of recreated.
 *
 * Gotchas: the offsets below are LMDB 0.9's on-disk meta layout on 64-bit builds (lmdb.h/mdb.c:
 * MDB_page header 16 bytes, then MDB_meta: mm_magic, mm_version, mm_address, mm_mapsize, mm_dbs[2] of
 * 48 bytes each, mm_last_pg, mm_txnid). The page size is stored in mm_dbs[FREE_DBI].md_pad.
 */
import { closeSync, existsSync, openSync, readSync, renameSync, statSync, writeFileSync, readFileSync, fsyncSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes, RuntimeError } from '../../kernel/index.js';

export const LOG_FILE = 'log.mdb';
export const MANIFEST_FILE = 'manifest.json';

const MDB_MAGIC = 0xbeefc0de;
const MDB_DATA_VERSION = 2;
const META = { magic: 0x18, version: 0x1c, pageSize: 0x30, lastPage: 0x90, txnid: 0x98, end: 0xa0 } as const;

export interface MetaPage {
  index: 0 | 1;
  ok: boolean;
  problem?: string;
  pageSize: number;
  lastPage: number;
  txnid: number;
}

export interface Manifest {
  format: number;
  partitions: number;
  created: string;
  log: string;
}

/** Reads both meta pages of an LMDB data file (no mapping; plain reads). */
export function readMetaPages(file: string): MetaPage[] {
  const fd = openSync(file, 'r');
  try {
    const first = readAt(fd, 0, META.end);
    const pageSize = first && first.readUInt32LE(META.magic) === MDB_MAGIC ? first.readUInt32LE(META.pageSize) : 4096;
    const second = readAt(fd, pageSize, META.end);
    return [parseMeta(0, first, pageSize), parseMeta(1, second, pageSize)];
  } finally {
    closeSync(fd);
  }
}

function readAt(fd: number, position: number, length: number): Buffer | null {
  const buf = Buffer.alloc(length);
  const n = readSync(fd, buf, 0, length, position);
  return n === length ? buf : null;
}

function parseMeta(index: 0 | 1, buf: Buffer | null, fallbackPageSize: number): MetaPage {
  if (!buf) return { index, ok: false, problem: 'the file ends before this meta page', pageSize: fallbackPageSize, lastPage: 0, txnid: 0 };
  const magic = buf.readUInt32LE(META.magic);
  const version = buf.readUInt32LE(META.version);
  const pageSize = buf.readUInt32LE(META.pageSize);
  const lastPage = Number(buf.readBigUInt64LE(META.lastPage));
  const txnid = Number(buf.readBigUInt64LE(META.txnid));
  let problem: string | undefined;
  if (magic !== MDB_MAGIC) problem = `bad magic 0x${magic.toString(16)} (expected 0x${MDB_MAGIC.toString(16)})`;
  else if (version !== MDB_DATA_VERSION) problem = `data version ${version} (this LMDB writes ${MDB_DATA_VERSION})`;
  else if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) problem = `page size ${pageSize}`;
  else if (index === 1 && pageSize !== fallbackPageSize) problem = `page size ${pageSize} differs from meta page 0's ${fallbackPageSize}`;
  else if (!Number.isSafeInteger(lastPage) || lastPage < 1) problem = `last page ${lastPage}`;
  return problem ? { index, ok: false, problem, pageSize, lastPage, txnid } : { index, ok: true, pageSize, lastPage, txnid };
}

/** The manifest, or undefined when the data dir has none. */
export function readManifest(dataDir: string): Manifest | undefined {
  const file = join(dataDir, MANIFEST_FILE);
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Manifest;
  } catch (err) {
    throw new RuntimeError(ErrorCodes.CorruptLog, `${file} is not readable JSON (${(err as Error).message}); fix or restore it (it records that a log was created here)`, { path: file });
  }
}

/** Writes the manifest atomically (temp file, fsync, rename). */
export function writeManifest(dataDir: string, manifest: Manifest): void {
  const file = join(dataDir, MANIFEST_FILE);
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(manifest, null, 2) + '\n');
  const fd = openSync(tmp, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

/**
 * Refuses, with one clear line naming the path and what to do, a data dir whose log LMDB must not map:
 * missing or empty while the manifest says a log was created, truncated below its last page in use, or
 * with a damaged meta page. Returns whether a log file exists (false: a new data dir).
 */
export function checkDataDir(dataDir: string): boolean {
  const file = join(dataDir, LOG_FILE);
  const manifest = readManifest(dataDir);
  let size = existsSync(file) ? statSync(file).size : -1;
  if (size <= 0) {
    if (manifest) {
      throw damaged(file, `${size < 0 ? 'is missing' : 'is empty'}, but ${join(dataDir, MANIFEST_FILE)} says a log was created here on ${manifest.created}`, 'restore the data dir from a backup (`eventide restore`); to start over on purpose, move the whole data dir away');
    }
    return false;
  }
  // Metas first, size after: a writer (another process on a hot backup, say) writes a commit's pages
  // before its meta, so the size read after a meta always covers that meta's last page.
  const metas = readMetaPages(file);
  size = statSync(file).size;
  const bad = metas.filter((m) => !m.ok);
  if (bad.length) {
    const what = bad.map((m) => `meta page ${m.index}: ${m.problem}`).join('; ');
    throw damaged(file, `has a damaged header (${what})`, 'restore a backup (`eventide restore`); `eventide verify` tells more once the file opens');
  }
  const newest = metas[0]!.txnid >= metas[1]!.txnid ? metas[0]! : metas[1]!;
  const needed = (newest.lastPage + 1) * newest.pageSize;
  if (size < needed) {
    throw damaged(file, `is truncated: ${size} bytes, but its last page in use (${newest.lastPage}, transaction ${newest.txnid}) needs ${needed}`, 'restore a backup (`eventide restore`); the file was cut (a failed copy, a full disk while copying, a broken volume)');
  }
  return true;
}

function damaged(file: string, what: string, todo: string): RuntimeError {
  return new RuntimeError(ErrorCodes.CorruptLog, `the event log ${file} ${what}: refusing to open it; ${todo}`, { path: file });
}
