/**
 * The one ordered queue of the memory log's writes: log batches, view writes made outside a batch,
 * the resume probe. Each write is queued as a function that applies it (or throws, changing nothing);
 * they run in the order they were queued, at a microtask after the call that queued them, each
 * settling its own promise.
 *
 * Why asynchronous when nothing waits for a disk: so that callers meet the same timing as on LMDB,
 * where a write lands in a transaction that commits after the current event turn. A caller that read
 * right after `commit(...)` and found its batch would pass on memory and fail on LMDB; here, as there,
 * nothing of a write is visible before its promise settles, and a fence claimed in the same turn as a
 * commit (`claimOwnership` right after `commit`) is seen by that commit.
 *
 * Why a microtask and not `setImmediate`: tests that fake timers (vitest fakes `setImmediate` by
 * default, not `queueMicrotask`) would otherwise never see a commit resolve.
 *
 * Gotchas: every write applies in one synchronous step (validate everything, then mutate), so a read,
 * which also runs synchronously, sees a write either whole or not at all.
 */
export class WriteQueue {
  #entries: (() => void)[] = [];
  #scheduled = false;
  /** The promise of the last write queued (settled or not): awaiting it awaits every earlier one. */
  #last: Promise<unknown> = Promise.resolve();

  /** Queues `apply`: it runs after every write queued before it; its result or error settles the promise. */
  push<T>(apply: () => T): Promise<T> {
    const done = new Promise<T>((resolve, reject) => {
      this.#entries.push(() => {
        try {
          resolve(apply());
        } catch (err) {
          reject(err);
        }
      });
    });
    this.#last = done.catch(() => undefined);
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.#flush());
    }
    return done;
  }

  /** Resolves once every write queued so far has been applied or refused (never rejects). */
  async settled(): Promise<void> {
    await this.#last;
  }

  #flush(): void {
    this.#scheduled = false;
    const entries = this.#entries;
    this.#entries = [];
    for (const apply of entries) apply();
  }
}
