/**
 * When the main thread must renew its read snapshot of the log before a read, so that the read sees
 * every command acknowledged before it (read-your-writes), and only then.
 *
 * LMDB read transactions are snapshots: lmdb-js keeps one per thread and renews it on its own only at
 * the next timer tick, so a read right after an acknowledgement could miss the commit the worker made.
 * `refreshReads()` renews it at once: an mdb_txn_reset now, an mdb_txn_renew and a fresh timer on the
 * next read. That is cheap (bench/README.md, "Reads on the calling thread") but not free, and a load
 * that costs a few microseconds should not pay it, nor allocate a timer, when nothing changed. So the
 * router tells this object about every answer it hears of (`touched`), and a read of a partition
 * renews the snapshot only when such an answer about that partition came after the last renewal.
 *
 * Why per partition: a stream lives in one partition, and only commits there can be missing from a
 * read of it. Why every answer, failures included: a command that failed with an unknown outcome
 * (`WorkerCrashed`, `StorageFailed`) may be in the log, and the next read must see that it is.
 *
 * Gotchas:
 * - Renewing more often than this is always safe (other readers of `runtime.log` call `refreshReads`
 *   themselves, lmdb-js renews on its timer): a snapshot only ever gets newer.
 * - The in-memory log keeps no snapshot: `refreshReads` costs nothing there, and this changes nothing.
 */
import type { LogReader } from '../log/index.js';

export class ReadFreshness {
  readonly #log: LogReader;
  /** Per partition: the stamp of the last answer heard about it. */
  readonly #touched: number[];
  /**
   * The stamp of the last event that concerns every partition (a restart, a storage failure...). 1 at
   * first: the first read renews whatever snapshot opening the log left behind.
   */
  #all = 1;
  #stamp = 1;
  /** The stamp when the snapshot was last renewed: answers stamped after it may be missing from it. */
  #renewedAt = 0;

  constructor(log: LogReader) {
    this.#log = log;
    this.#touched = new Array<number>(log.partitions).fill(0);
  }

  /** An answer about `partition` was heard (a commit acknowledged, a command failed, a partition resumed). */
  touched(partition: number): void {
    this.#touched[partition] = ++this.#stamp;
  }

  /** Something that may concern any partition happened (a worker restarted, failed, or stopped writing). */
  touchedAll(): void {
    this.#all = ++this.#stamp;
  }

  /** Before a read of `partition`: renews the read snapshot when it may miss an answer already heard. */
  fresh(partition: number): void {
    if (this.#touched[partition]! > this.#renewedAt || this.#all > this.#renewedAt) {
      this.#log.refreshReads();
      this.#renewedAt = this.#stamp;
    }
  }
}
