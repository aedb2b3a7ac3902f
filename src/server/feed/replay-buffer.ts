/**
 * The most recent feed batches, kept (up to a byte cap) so that a client that was paused for reading too
 * slowly resumes by being sent the very messages the live clients got (shared Buffers, nothing re-read or
 * re-serialised), instead of each paused client reading and encoding the same events from the log again.
 *
 * A client can take a retained batch when its position equals the batch's `from` on every partition it
 * reads; a client paused between two batches always is (its position is the `to` of the last batch it was
 * sent, the `from` of the next one). Anything older than the buffer is read from the log.
 *
 * Gotchas: batches must be pushed in flush order (`fromTotal` strictly increasing, and each partition's
 * `from` non-decreasing), because `find` binary-searches on them.
 */
import type { FeedBatch } from './batch.js';

export class ReplayBuffer {
  readonly #capBytes: number;
  readonly #partitionCount: number;
  #batches: FeedBatch[] = [];
  #head = 0;
  #bytes = 0;
  readonly #grow = (n: number): void => {
    this.#bytes += n;
  };

  constructor(capBytes: number, partitionCount: number) {
    this.#capBytes = capBytes;
    this.#partitionCount = partitionCount;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get length(): number {
    return this.#batches.length - this.#head;
  }

  push(batch: FeedBatch): void {
    if (this.#capBytes <= 0) return;
    this.#batches.push(batch);
    this.#bytes += batch.bytes;
    batch.track(this.#grow);
    // Evict the oldest; the newest stays even if it alone is over the cap (it was just sent, so small enough).
    while (this.#bytes > this.#capBytes && this.length > 1) {
      const old = this.#batches[this.#head]!;
      this.#batches[this.#head++] = undefined as unknown as FeedBatch;
      old.track(null);
      this.#bytes -= old.bytes;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#batches.length) {
      this.#batches = this.#batches.slice(this.#head);
      this.#head = 0;
    }
  }

  /** Drops everything (no client left to replay to). */
  clear(): void {
    for (let i = this.#head; i < this.#batches.length; i++) this.#batches[i]!.track(null);
    this.#batches = [];
    this.#head = 0;
    this.#bytes = 0;
  }

  /**
   * The retained batch a client at `next`, reading `partitions`, can take next: the first one whose `from`
   * equals `next` on each of those partitions. Undefined if there is none (too old, or a position that is
   * not a batch boundary, e.g. in the middle of a catch-up from the log).
   */
  find(next: readonly number[], partitions: readonly number[]): FeedBatch | undefined {
    const i = this.#indexOf(next, partitions);
    return i < 0 ? undefined : this.#batches[i];
  }

  /** How many retained batches a client at `next` would follow to reach the newest (0: `find` has none). */
  depth(next: readonly number[], partitions: readonly number[]): number {
    const i = this.#indexOf(next, partitions);
    return i < 0 ? 0 : this.#batches.length - i;
  }

  #indexOf(next: readonly number[], partitions: readonly number[]): number {
    if (this.length === 0 || partitions.length === 0) return -1;
    const all = partitions.length === this.#partitionCount;
    if (all) {
      // Every partition: the total of `from` identifies the batch, and its `from` must be `next` itself.
      const want = next.reduce((a, b) => a + b, 0);
      const i = this.#firstNotBelow((b) => b.fromTotal, want);
      const b = this.#batches[i];
      return b && b.fromTotal === want && b.from.every((o, p) => o === next[p]) ? i : -1;
    }
    // Some partitions (one: a stream filter): the batches whose `from` equals `next` on each of them form
    // one run (each partition's `from` is non-decreasing). All but the last of the run hold nothing of
    // those partitions (the next one starts where they did), so the last is the one to send. Not the
    // first: taking a batch that moves none of the client's partitions leaves it where it was, and it
    // would take the same batch again, for ever.
    const p0 = partitions[0]!;
    const end = this.#firstNotBelow((b) => b.from[p0]!, next[p0]! + 1);
    for (let i = end - 1; i >= this.#head; i--) {
      const b = this.#batches[i]!;
      if (b.from[p0] !== next[p0]) return -1;
      if (partitions.every((p) => b.from[p] === next[p])) return i;
    }
    return -1;
  }

  /** The first retained index whose `key` is at least `want` (keys non-decreasing), or the end. */
  #firstNotBelow(key: (b: FeedBatch) => number, want: number): number {
    let lo = this.#head;
    let hi = this.#batches.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (key(this.#batches[mid]!) < want) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
