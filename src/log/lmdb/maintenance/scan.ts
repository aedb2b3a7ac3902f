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
      const range = db.getRange(after ? { start: Buffer.concat([after, NEXT]) as never, snapshot: false } : { snapshot: false });
      for (const { key, value } of range) {
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
