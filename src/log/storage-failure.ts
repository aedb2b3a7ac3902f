/**
 * Names the cause of a failed write to the log, and builds the `StorageFailed` errors callers see.
 *
 * lmdb-js rejects a failed commit with a bare "Commit failed (see commitError for details)"; the errno is
 * on a second promise (`err.commitError`, rejected with `{ code: 28, message: 'No space left on device:
 * …' }` for ENOSPC). So the cause is read from there, and the free space of the data dir's file system is
 * measured (statfs) so that the message can say "disk full: N bytes free on <mount>".
 *
 * Two outcomes, two messages (clients act on them differently):
 * - `unknown`: the write was handed to LMDB and failed there. Whether a commit whose flush failed reached
 *   the disk cannot be known from here, so the command may be in the log after a restart: retry it with
 *   the same commandId (idempotency applies it at most once).
 * - `not-applied`: the write was refused before anything was queued (the log had already failed, or free
 *   space is below the reserve): nothing was written; retrying later is safe with or without a commandId.
 *
 * Gotchas:
 * - lmdb-js 3.5.6's native write-error path formats its message with sprintf into a malloc(100) buffer
 *   (mdb.c, "Attempting to write page at position …"); a long enough message overruns it and corrupts the
 *   heap (glibc aborts later with "corrupted size vs. prev_size"). Hence the free-space reserve checked
 *   *before* committing (runtime/storage-guard.ts): LMDB itself should never be the one to meet ENOSPC.
 */
import { readFileSync, statfsSync } from 'node:fs';
import { resolve } from 'node:path';
import { ErrorCodes, RuntimeError } from '../kernel/index.js';

export type WriteOutcome = 'unknown' | 'not-applied';

/** What a failed write tells about the storage, as the `details` of `StorageFailed`. */
export interface StorageCause {
  /** An errno name (`ENOSPC`, `EIO`, `EDQUOT`, …) or `unknown`. */
  cause: string;
  /** Bytes an unprivileged writer may still use on the data dir's file system (null when unknown). */
  freeBytes: number | null;
  /** Mount point holding the data dir (the data dir itself when the mount table is unreadable). */
  mount: string;
  /** The storage engine's own words, kept for operators. */
  reason: string;
}

/** errno numbers LMDB hands back (Linux values) and their names. */
const ERRNO_NAMES: Record<number, string> = { 5: 'EIO', 12: 'ENOMEM', 27: 'EFBIG', 28: 'ENOSPC', 30: 'EROFS', 122: 'EDQUOT' };

/** Below this, a write error LMDB reports as EIO (or without errno) is taken for a full disk. */
export const NEARLY_FULL_BYTES = 1024 * 1024;

/** Causes that only mean "no room": once space is back, writes may resume (see runtime/storage-recovery.ts). */
const SPACE_CAUSES = new Set(['ENOSPC', 'EDQUOT']);

export function isSpaceCause(cause: string): boolean {
  return SPACE_CAUSES.has(cause);
}

/** Free bytes for an unprivileged writer on the file system holding `dir` (null when statfs fails). */
export function freeBytes(dir: string): number | null {
  try {
    const s = statfsSync(dir, { bigint: true });
    return Number(s.bavail * s.bsize);
  } catch {
    return null;
  }
}

/** The mount point holding `dir`: the longest mount path that is a prefix of it (Linux mountinfo). */
export function mountOf(dir: string): string {
  const abs = resolve(dir);
  try {
    let best = '';
    for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      // Field 5 is the mount point, with spaces and the like octal-escaped.
      const mount = line.split(' ')[4]?.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
      if (!mount) continue;
      const inside = mount === '/' || abs === mount || abs.startsWith(mount + '/');
      if (inside && mount.length > best.length) best = mount;
    }
    return best || abs;
  } catch {
    return abs;
  }
}

/**
 * The cause of a failed LMDB write: the errno from `err.commitError` (or `err.code`), else ENOSPC when
 * the file system has no free byte left, else `unknown` with LMDB's message.
 */
export async function diagnoseWriteError(dataDir: string, err: unknown): Promise<StorageCause> {
  let inner: unknown = err;
  const pending = (err as { commitError?: unknown } | null)?.commitError;
  if (pending && typeof (pending as Promise<unknown>).then === 'function') {
    // Rejected right after the write promises (same native callback); a short bound keeps a changed
    // lmdb-js from stalling the failure path.
    inner = await Promise.race([
      (pending as Promise<unknown>).then(
        () => err,
        (e: unknown) => e,
      ),
      new Promise((r) => setTimeout(() => r(err), 200).unref()),
    ]);
  }
  const code = (inner as { code?: unknown } | null)?.code;
  const reason = String((inner as Error | null)?.message ?? inner).slice(0, 300);
  const free = freeBytes(dataDir);
  let cause = typeof code === 'number' ? (ERRNO_NAMES[code] ?? `errno ${code}`) : typeof code === 'string' && /^E[A-Z]+$/.test(code) ? code : 'unknown';
  // LMDB turns a short write into EIO ("short write, filesystem full?" in mdb.c): on a file system with
  // (almost) no space left, that EIO is the full disk. A write-path failure either way: the transaction
  // was aborted before its meta page was written.
  if ((cause === 'unknown' || cause === 'EIO') && free !== null && free < NEARLY_FULL_BYTES) cause = 'ENOSPC';
  return { cause, freeBytes: free, mount: mountOf(dataDir), reason };
}

/** The cause as one phrase: "disk full (ENOSPC): 0 bytes free on /data" or "I/O error (EIO): …". */
export function describeCause(c: StorageCause): string {
  const where = `${c.freeBytes === null ? 'unknown free space' : `${c.freeBytes} bytes free`} on ${c.mount}`;
  if (isSpaceCause(c.cause)) return `disk full (${c.cause}): ${where}`;
  return `${c.cause === 'EIO' ? 'I/O error (EIO)' : `storage error (${c.cause})`}: ${c.reason}; ${where}`;
}

/** `StorageFailed` for a command (or batch) whose write failed, or was refused, for `cause`. */
export function storageFailed(c: StorageCause, outcome: WriteOutcome, extra = ''): RuntimeError {
  const what =
    outcome === 'unknown'
      ? 'the event log failed to write; the outcome of this command is unknown (it may be in the log): retry it with the same commandId, which applies it at most once'
      : 'the event log refuses writes; nothing of this command was written: retry it later';
  return new RuntimeError(ErrorCodes.StorageFailed, `${describeCause(c)}${extra}. ${what}`, { cause: c.cause, freeBytes: c.freeBytes, mount: c.mount, reason: c.reason, outcome }, true);
}

/** The same failure, for a command refused because the log had already failed: nothing was written. */
export function refusedAfter(failure: RuntimeError): RuntimeError {
  if (failure.details.outcome === 'not-applied') return failure;
  // Not a storage fault (fenced by a new owner, a position found taken): the same reason, said again.
  if (failure.code !== ErrorCodes.StorageFailed) return new RuntimeError(failure.code, failure.message, failure.details, failure.retriable);
  const c: StorageCause = {
    cause: String(failure.details.cause ?? 'unknown'),
    freeBytes: typeof failure.details.freeBytes === 'number' ? failure.details.freeBytes : null,
    mount: String(failure.details.mount ?? ''),
    reason: String(failure.details.reason ?? failure.message),
  };
  return storageFailed(c, 'not-applied');
}
