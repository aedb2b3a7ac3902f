/**
 * Resuming writes after the disk was full, without a restart (main thread).
 *
 * When a worker reports a storage failure its slot refuses commands (reads go on). If the cause is only
 * a lack of space (ENOSPC/EDQUOT), a background probe with back-off checks the free space and, once it
 * is above the reserve, makes one test write + flush on a dedicated key; when that succeeds, every
 * failed worker is replaced by a fresh thread (WorkerSlot.restart) and commands flow again. An operator
 * can ask for the same at once (`resumeNow`, POST /admin/storage/resume); it answers `StorageFailed`
 * with the reason when it cannot resume yet.
 *
 * Why this is safe (the "fsyncgate" lesson: a failed flush must never be retried as if nothing happened):
 * - Nothing whose durability is unknown is ever acknowledged. A command of a failed batch was answered
 *   `StorageFailed` with outcome `unknown`; its events may or may not be in the log, and the client
 *   retries with the same commandId, which the fresh worker finds in the log (then answers the first
 *   result) or applies once. Resuming never replays a failed batch by itself.
 * - A space failure means LMDB could not write the pages of a transaction, so the transaction was
 *   aborted before its meta page was written: what is on disk is the last committed state, and every
 *   transaction committed after it (the probe's, then new batches) is flushed before it is acknowledged.
 *   A refusal by the reserve (runtime/storage-guard.ts) wrote nothing at all.
 * - Nothing the failed worker held in memory is reused: its offsets, write chain, actors, pages and
 *   projection checkpoints counted the failed batch. The new thread reads them all back from LMDB.
 * - Any other cause (EIO, unknown) is not resumed in-process: after a failed fsync the page cache may
 *   hold pages the disk does not, and a later successful fsync proves nothing about them. Those need a
 *   restart (LMDB then reads only what is on disk).
 */
import { ErrorCodes, RuntimeError } from '../kernel/index.js';
import { NEARLY_FULL_BYTES, describeCause, freeBytes, isSpaceCause, mountOf, storageFailed, type EventLog, type StorageCause } from '../log/index.js';

/** First probe delay, doubled after each failed probe up to the max. */
const FIRST_PROBE_MS = 200;
const MAX_PROBE_MS = 5000;

export interface StorageStatus {
  /** The cause of the current failure (`ENOSPC`, `EIO`, …). */
  cause: string;
  freeBytes: number | null;
  mount: string;
  /** Workers whose writes are stopped. */
  workers: number[];
  /** True when writes resume by themselves once space is back. */
  autoResume: boolean;
}

export interface ResumeResult {
  resumed: boolean;
  workers: number[];
}

export interface StorageRecoveryOptions {
  /** The main thread's log: the probe writes through it. */
  log: EventLog;
  dataDir: string;
  reserveBytes: number;
  /** Replaces a worker thread by a fresh one (WorkerSlot.restart). */
  restart: (worker: number, reason: string) => Promise<void>;
}

export class StorageRecovery {
  readonly #o: StorageRecoveryOptions;
  /** Failed worker -> its failure. */
  readonly #failed = new Map<number, RuntimeError>();
  #timer: NodeJS.Timeout | null = null;
  #delay = FIRST_PROBE_MS;
  #probing: Promise<ResumeResult> | null = null;
  #closed = false;

  constructor(options: StorageRecoveryOptions) {
    this.#o = options;
  }

  /** A worker's log failed or refused a write. */
  failed(worker: number, error: RuntimeError): void {
    if (this.#closed) return;
    this.#failed.set(worker, error);
    if (this.#autoResume() && !this.#timer && !this.#probing) this.#schedule();
  }

  status(): StorageStatus | null {
    const first = this.#failed.values().next().value;
    if (!first) return null;
    const d = first.details;
    return {
      cause: String(d.cause ?? 'unknown'),
      freeBytes: freeBytes(this.#o.dataDir),
      mount: typeof d.mount === 'string' ? d.mount : mountOf(this.#o.dataDir),
      workers: [...this.#failed.keys()],
      autoResume: this.#autoResume(),
    };
  }

  /** One line for /health. */
  reason(): string | null {
    const s = this.status();
    if (!s) return null;
    const first = this.#failed.values().next().value!;
    const now = describeCause({ cause: s.cause, freeBytes: s.freeBytes, mount: s.mount, reason: String(first.details.reason ?? first.message) });
    const then = s.autoResume
      ? `writes resume by themselves once more than ${Math.max(this.#o.reserveBytes, NEARLY_FULL_BYTES)} bytes are free (or POST /admin/storage/resume)`
      : 'writes stay stopped until the server is restarted';
    return `storage: writes stopped on worker(s) ${s.workers.join(', ')}: ${now}; ${then}`;
  }

  /** The operator's "resume now": probes at once; throws `StorageFailed` when it cannot resume yet. */
  async resumeNow(): Promise<ResumeResult> {
    if (this.#failed.size === 0) return { resumed: false, workers: [] };
    if (!this.#autoResume()) {
      const s = this.status()!;
      throw new RuntimeError(
        ErrorCodes.StorageFailed,
        `cannot resume in-process after ${s.cause}: a failed flush may have lost pages the process still sees (fsyncgate); restart the server`,
        { cause: s.cause, freeBytes: s.freeBytes, mount: s.mount },
        false,
      );
    }
    return this.#probeOnce(true);
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #autoResume(): boolean {
    for (const e of this.#failed.values()) if (!isSpaceCause(String(e.details.cause ?? ''))) return false;
    return this.#failed.size > 0;
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#probeOnce(false).then(
        () => undefined,
        () => {
          this.#delay = Math.min(MAX_PROBE_MS, this.#delay * 2);
          if (this.#failed.size > 0 && this.#autoResume()) this.#schedule();
        },
      );
    }, this.#delay);
    this.#timer.unref();
  }

  /** Free space above the reserve, then the test write, then fresh workers. One probe at a time. */
  #probeOnce(byOperator: boolean): Promise<ResumeResult> {
    this.#probing ??= this.#probe(byOperator).finally(() => (this.#probing = null));
    return this.#probing;
  }

  async #probe(byOperator: boolean): Promise<ResumeResult> {
    // Space first: LMDB may well commit a small probe into pages it freed earlier while the disk is
    // still full, and resuming then would only fail the next batches again (outcome unknown).
    const free = freeBytes(this.#o.dataDir);
    const needed = Math.max(this.#o.reserveBytes, NEARLY_FULL_BYTES);
    if (free !== null && free < needed) {
      const c: StorageCause = { cause: 'ENOSPC', freeBytes: free, mount: mountOf(this.#o.dataDir), reason: 'free space below what resuming needs' };
      throw storageFailed(c, 'not-applied', `; resuming needs ${needed} bytes free: cannot resume yet`);
    }
    await this.#o.log.probeWrite();
    const workers = [...this.#failed.keys()];
    for (const w of workers) {
      const failure = this.#failed.get(w);
      await this.#o.restart(w, `storage writable again (${byOperator ? 'operator' : 'probe'}): resumed writes`);
      if (this.#failed.get(w) === failure) this.#failed.delete(w);
    }
    this.#delay = FIRST_PROBE_MS;
    return { resumed: true, workers };
  }
}
