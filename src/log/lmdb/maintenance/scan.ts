/**
 * A forward scan over one database that survives damage: LMDB errors thrown while iterating
 * (MDB_CORRUPTED, MDB_PAGE_NOTFOUND, MDB_BAD_TXN, ...) are handed to `onError` instead of crashing the
 * tool, and the scan resumes just after the last key it read. If the resumed scan fails again before it
 * reads one more record, the rest of the database is unreachable and the scan ends (reported as such).
 *
 * Why `snapshot: false`: a verify of a large log on a live server must not hold one read transaction
 * for minutes (it pins old pages and grows the file, lmdb-js #198).
 */
import type { Database } from 'lmdb';

export interface RawEntry {
  /** The stored key bytes (a copy). */
  key: Buffer;
  value: Buffer;
}

const NEXT = Buffer.from([0]);

/** `onError(err, after, gaveUp)`: `after` is the last key read before the error; `gaveUp` when the scan ends there. */
export function* scanDatabase(db: Database<Buffer, Buffer>, onError: (err: unknown, after: Buffer | undefined, gaveUp: boolean) => void): Generator<RawEntry> {
  let after: Buffer | undefined;
  for (;;) {
    let progressed = false;
    try {
      // The resume seek compares with the database's comparator, which is lmdb-js's `compareFast` when a
      // runtime in this process has the log open (raw-log.ts, `eventsByRef`): it may land a record early
      // on a raw key, so records not after `after` in byte order are skipped here.
      const resumeAfter = after;
      const range = db.getRange(after ? { start: Buffer.concat([after, NEXT]) as never, snapshot: false } : { snapshot: false });
      for (const { key, value } of range) {
        if (resumeAfter && Buffer.compare(key as unknown as Uint8Array, resumeAfter) <= 0) continue;
        progressed = true;
        after = Buffer.from(key as unknown as Uint8Array);
        yield { key: after, value: value as Buffer };
      }
      return;
    } catch (err) {
      // Each resumed scan must read at least one record, so this ends.
      onError(err, after, !progressed);
      if (!progressed) return;
    }
  }
}
