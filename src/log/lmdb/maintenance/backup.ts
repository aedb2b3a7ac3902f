/**
 * Hot backup and restore of a data dir's log.
 *
 * Backup: LMDB's own copy (`mdb_env_copy2`, via lmdb-js `root.backup(path, compact)`) runs inside one
 * read transaction, so the copy is the log exactly as of one commit, taken while writers go on (they are
 * never blocked: LMDB readers do not lock). Every event acknowledged before the backup starts is in it,
 * because an ack waits for its commit. With compaction (the default) free pages are left out and the
 * B-trees are rewritten densely. The copy goes into a fresh `<dest>.partial-*` directory, is opened
 * read-only and verified (verify.ts) - "test a backup by restoring it" (DESIGN pitfalls, lmdb-js #198,
 * #344) - gets its info file `backup.json`, is flushed to disk, and only then renamed to `<dest>`: a
 * directory named `<dest>` is always a complete backup.
 *
 * Restore: copies a backup's `log.mdb` into a data dir that is missing or empty (or, with `force`, one
 * whose log it replaces), holding the data-dir lock so no server runs there meanwhile, then verifies
 * what it wrote; a restored log that does not verify is removed again.
 *
 * The key store (`keys.mdb`, crypto-shredding: log/lmdb/subject-keys.ts) is copied too, compacted, right
 * after the log: without it the personal fields of every subject would be unreadable in a restore. A
 * subject forgotten before the backup has no key in it (its tombstone is copied; the freed pages that
 * held the key are not), so the backup holds neither the key nor any plaintext of it. A subject
 * forgotten after the backup can be read again from it: forgetting cannot reach copies (README).
 *
 * Gotchas:
 * - Only the log file and the key store are backed up: video files and other state beside them are not.
 * - The key store is copied after the log: a key made in between is in the copy too (harmless), and
 *   every key an event of the copied log uses was durable before that event (subject-keys.ts).
 * - A backup is a file copy of LMDB's format: restore it with the same lmdb-js major version.
 */
import { closeSync, copyFileSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as lmdb from 'lmdb';
import { ErrorCodes, RuntimeError, systemClock } from '../../../kernel/index.js';
import { LOG_FORMAT_VERSION } from '../environment.js';
import { lockDataDir } from '../dir-lock.js';
import { backupSubjectKeys, KEYS_FILE } from '../subject-keys.js';
import { hasLog, LOG_FILE, logFileOf, noLogError, openRawLog } from './raw-log.js';
import { verifyDataDir, type VerifyOptions, type VerifyReport } from './verify.js';

export const BACKUP_INFO_FILE = 'backup.json';

/** What `backup.json` says about a backup. */
export interface BackupInfo {
  tool: 'eventide';
  toolVersion: string;
  formatVersion: number;
  lmdbVersion: string;
  partitions: number;
  created: string;
  source: string;
  compacted: boolean;
  bytes: number;
  events: number;
  /** Intact events per partition, as verify counted them in the copy. */
  eventsPerPartition: number[];
  verified: boolean;
  /** True when the data dir's key store (`keys.mdb`) was copied too. */
  subjectKeys?: boolean;
}

export interface BackupResult {
  ok: boolean;
  dest: string;
  info: BackupInfo;
  verify: VerifyReport;
  durationMs: number;
}

export interface BackupOptions {
  /** Compact while copying (default true). */
  compact?: boolean;
  verify?: VerifyOptions;
}

/**
 * Copies the log of `dataDir` into the new directory `dest` and verifies the copy. Safe while a server
 * writes the log (in this process or another). `ok` is false when the copy holds damage (the source
 * does then too): the backup is kept, and `backup.json` says `verified: false`.
 */
export async function backupLog(dataDir: string, dest: string, options: BackupOptions = {}): Promise<BackupResult> {
  const started = systemClock.now();
  const source = resolve(dataDir);
  const target = resolve(dest);
  if (existsSync(target)) throw new RuntimeError(ErrorCodes.AlreadyExists, `backup destination ${target} exists; choose a new one`, { dest: target });
  if (!hasLog(source)) throw noLogError(source);
  const partial = `${target}.partial-${process.pid}-${started}`;
  mkdirSync(partial, { recursive: true });
  try {
    const compact = options.compact ?? true;
    const raw = openRawLog(source);
    try {
      await raw.root.backup(join(partial, LOG_FILE), compact);
    } finally {
      await raw.close();
    }
    const subjectKeys = await backupSubjectKeys(source, join(partial, KEYS_FILE));
    const verify = await verifyDataDir(partial, options.verify);
    // The read-only open left LMDB's lock file; a backup is the data file alone.
    rmSync(join(partial, `${LOG_FILE}-lock`), { force: true });
    const info: BackupInfo = {
      tool: 'eventide',
      toolVersion: toolVersion(),
      formatVersion: verify.formatVersion ?? LOG_FORMAT_VERSION,
      // Exported by lmdb-js (native.js), not declared in its index.d.ts.
      lmdbVersion: (lmdb as unknown as { version?: { versionString?: string } }).version?.versionString ?? 'unknown',
      partitions: verify.partitionCount,
      created: new Date(started).toISOString(),
      source,
      compacted: compact,
      bytes: statSync(join(partial, LOG_FILE)).size,
      events: verify.partitions.reduce((n, p) => n + p.events, 0),
      eventsPerPartition: verify.partitions.map((p) => p.events),
      verified: verify.ok,
      ...(subjectKeys ? { subjectKeys } : {}),
    };
    writeFileSync(join(partial, BACKUP_INFO_FILE), JSON.stringify(info, null, 2) + '\n');
    fsyncPath(join(partial, LOG_FILE));
    fsyncPath(join(partial, BACKUP_INFO_FILE));
    if (subjectKeys) fsyncPath(join(partial, KEYS_FILE));
    fsyncPath(partial);
    renameSync(partial, target);
    fsyncPath(dirname(target));
    return { ok: verify.ok, dest: target, info, verify, durationMs: systemClock.now() - started };
  } catch (err) {
    rmSync(partial, { recursive: true, force: true });
    throw err;
  }
}

export interface RestoreResult {
  ok: boolean;
  dataDir: string;
  backup: string;
  info: BackupInfo | null;
  verify: VerifyReport;
  durationMs: number;
}

/** Files a data dir may hold that do not make it "not empty" for a restore. */
const IGNORABLE = new Set(['owner.lock']);

/**
 * Restores the backup in `backupDir` into `dataDir`, which must be missing or empty; with `force`, its
 * log (and manifest) are replaced, other files are left alone. Refuses a data dir a server holds
 * (`DataDirLocked`). Throws `CorruptLog` (and removes the restored log) when the copy does not verify.
 */
export async function restoreBackup(backupDir: string, dataDir: string, options: { force?: boolean; verify?: VerifyOptions } = {}): Promise<RestoreResult> {
  const started = systemClock.now();
  const from = resolve(backupDir);
  const target = resolve(dataDir);
  if (!hasLog(from)) throw new RuntimeError(ErrorCodes.InvalidOptions, `${from} is not a backup (no ${LOG_FILE} there)`, { backup: from, reason: 'no-log' });
  const present = existsSync(target) ? readdirSync(target).filter((f) => !IGNORABLE.has(f)) : [];
  if (present.length > 0 && !options.force) {
    throw new RuntimeError(ErrorCodes.AlreadyExists, `data dir ${target} is not empty (${present.slice(0, 5).join(', ')}${present.length > 5 ? ', ...' : ''}); restore into a new dir, or pass --force to replace its log`, { dataDir: target });
  }
  const lock = lockDataDir(target, 'eventide restore');
  try {
    for (const f of [LOG_FILE, `${LOG_FILE}-lock`, 'manifest.json', KEYS_FILE, `${KEYS_FILE}-lock`]) rmSync(join(target, f), { force: true });
    const file = logFileOf(target);
    copyFileSync(join(from, LOG_FILE), file);
    fsyncPath(file);
    // The key store goes with its log: a log restored beside another key store would not open.
    if (existsSync(join(from, KEYS_FILE))) {
      copyFileSync(join(from, KEYS_FILE), join(target, KEYS_FILE));
      fsyncPath(join(target, KEYS_FILE));
    }
    fsyncPath(target);
    const verify = await verifyDataDir(target, options.verify);
    if (!verify.ok) {
      for (const f of [LOG_FILE, `${LOG_FILE}-lock`, KEYS_FILE]) rmSync(join(target, f), { force: true });
      throw new RuntimeError(ErrorCodes.CorruptLog, `the backup in ${from} does not verify; the restored log was removed again`, { backup: from, verify });
    }
    return { ok: true, dataDir: target, backup: from, info: readBackupInfo(from), verify, durationMs: systemClock.now() - started };
  } finally {
    lock.release();
  }
}

export function readBackupInfo(backupDir: string): BackupInfo | null {
  try {
    return JSON.parse(readFileSync(join(backupDir, BACKUP_INFO_FILE), 'utf8')) as BackupInfo;
  } catch {
    return null;
  }
}

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

let cachedVersion: string | undefined;
/** This package's version, from the nearest package.json named `eventide` (works from src/ and dist/). */
function toolVersion(): string {
  if (cachedVersion) return cachedVersion;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++, dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'eventide' && pkg.version) return (cachedVersion = pkg.version);
    } catch {
      // not here: one level up
    }
  }
  return (cachedVersion = 'unknown');
}
