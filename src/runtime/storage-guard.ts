/**
 * The free-space reserve, checked by each actor host before it hands a batch to LMDB: below the reserve
 * the batch is refused (`StorageFailed`, cause `ENOSPC`, outcome `not-applied`) instead of written.
 *
 * Why refuse before LMDB does: a write LMDB itself fails leaves the outcome of the commands in it
 * unknown to their callers, and lmdb-js 3.5.6 corrupts its native heap while formatting that very error
 * (see log/storage-failure.ts). A refusal while some space is left is clean: nothing was written, the
 * answer says so, and resuming needs no repair.
 *
 * Cost: one statfs at most every CHECK_INTERVAL_MS while space is plentiful; on every batch once free
 * space is below LOW_WATER x reserve (a burst could otherwise cross the reserve between two checks).
 */
import { freeBytes, mountOf, storageFailed } from '../log/index.js';

const CHECK_INTERVAL_MS = 100;
const LOW_WATER = 4;

export class StorageGuard {
  readonly #dir: string;
  readonly #reserve: number;
  #checkedAt = -Infinity;
  #lastFree = Infinity;

  constructor(dataDir: string, reserveBytes: number) {
    this.#dir = dataDir;
    this.#reserve = reserveBytes;
  }

  /** Throws `StorageFailed` when the data dir's file system has less than the reserve free. */
  check(now: number): void {
    if (this.#reserve <= 0) return;
    if (this.#lastFree >= LOW_WATER * this.#reserve && now - this.#checkedAt < CHECK_INTERVAL_MS) return;
    this.#checkedAt = now;
    const free = freeBytes(this.#dir);
    this.#lastFree = free ?? Infinity;
    if (free !== null && free < this.#reserve) {
      throw storageFailed({ cause: 'ENOSPC', freeBytes: free, mount: mountOf(this.#dir), reason: `free space below the reserve of ${this.#reserve} bytes` }, 'not-applied', `, below the reserve of ${this.#reserve} bytes`);
    }
  }
}
