/**
 * The main thread's times as a worker thread reads them: how a lease deadline the partition group
 * computed on the main thread (`performance.now()` there) becomes a deadline on the worker's own
 * `performance.now()`, which the worker checks before every append (served-partitions.ts).
 *
 * Why not `performance.timeOrigin + performance.now()` on both sides: each thread's `timeOrigin` is
 * read from the wall clock when the thread starts, so two threads' sums may differ by however much the
 * wall clock was stepped or slewed in between (NTP), and by the precision of that reading. Within one
 * process both threads' `performance.now()` run on the same monotonic clock, so what separates them is
 * one constant: `worker = main + offset`. It is measured, not assumed: a reading `w` of the worker's
 * clock taken between two main-thread readings `sentAt` and `receivedAt` says `offset` lies in
 * `[w - receivedAt, w - sentAt]`. A deadline is converted with the lower end, so the worker may read it
 * earlier than it is (by at most the round trip), never later: a lease is never used past its end.
 *
 * Gotchas: an offset belongs to one thread. A restarted worker is a new thread with a new origin: its
 * offset is measured again (worker-slot.ts), and nothing is converted for it until then.
 */

/** One exchange: the worker read its clock (`workerNow`) after `sentAt` and before `receivedAt` (both main-thread readings). */
export interface ClockSample {
  sentAt: number;
  workerNow: number;
  receivedAt: number;
}

/**
 * The lowest offset (`worker = main + offset`) the samples allow: each sample's lower bound holds, so
 * the largest of them is the tightest bound that still holds. Null without a sample.
 */
export function conservativeOffset(samples: readonly ClockSample[]): number | null {
  let best: number | null = null;
  for (const s of samples) {
    if (!Number.isFinite(s.workerNow) || !Number.isFinite(s.sentAt) || !(s.receivedAt >= s.sentAt)) continue;
    const low = s.workerNow - s.receivedAt;
    if (best === null || low > best) best = low;
  }
  return best;
}

/** A worker thread's clock as measured from the main thread. */
export class ThreadClock {
  #offset: number | null = null;

  /** Adds an exchange; the offset only ever tightens (every sample's bound holds). */
  sample(s: ClockSample): void {
    const next = conservativeOffset([s]);
    if (next !== null && (this.#offset === null || next > this.#offset)) this.#offset = next;
  }

  get calibrated(): boolean {
    return this.#offset !== null;
  }

  /** `mainMs` (a main-thread `performance.now()` time) on the worker's clock, never later than it is; null before any sample. */
  toThread(mainMs: number): number | null {
    return this.#offset === null ? null : mainMs + this.#offset;
  }
}
