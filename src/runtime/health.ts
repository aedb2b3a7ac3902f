/**
 * Runtime health (main thread): why the runtime is not fully serving, as typed reasons a program can
 * switch on (`reason.kind`), each with the one line an operator reads (`reason.message`).
 *
 * What is tracked here is what the workers reported: a worker that stopped on an error, a partition
 * stopped on damage. What is read at report time: slots that crashed too often (WorkerSlot.down), the
 * storage failure (StorageRecovery), whether the runtime is closed, and (cluster mode) the partitions
 * whose following fails.
 *
 * Two levels: `reasons` make the runtime unhealthy (`ok: false`: it cannot serve what it should);
 * `degraded` lists what is wrong without stopping it from serving: a followed partition (one another
 * member writes) whose events this node's cache cannot follow. Commands and reads of it are forwarded
 * to its owner as ever; this node's feed, views and subscribers stop at what it applied.
 *
 * Gotchas:
 * - `message` is what `GET /health` lists in `reasons` (server/routes/system.ts): operators and
 *   monitoring grep those lines, so keep their wording when adding fields.
 * - Reasons keep the order they happened in (worker failures and stopped partitions share one Map for
 *   that), then slots down, then storage, then `closed`: the order /health has always shown.
 */
import type { RuntimeError } from '../kernel/index.js';
import type { StorageStatus } from './storage-recovery.js';

/** A worker stopped on an error it reported (e.g. `Fenced`); it is not restarted. */
export interface WorkerFailedReason {
  kind: 'worker-failed';
  worker: number;
  code: string;
  message: string;
}

/** A worker thread exited more often than `maxRestartsPerMinute` allows: it stays down, its calls fail fast. */
export interface WorkerDownReason {
  kind: 'worker-down';
  worker: number;
  code: string;
  message: string;
}

/** A partition stopped on damage (`CorruptRecord`, `CorruptLog`); `resumePartition` resumes it once repaired. */
export interface PartitionStoppedReason {
  kind: 'partition-stopped';
  partition: number;
  code: string;
  message: string;
}

/** Writes are stopped on some workers (disk full, I/O error); `health().storage` has the details. */
export interface StorageFailedReason {
  kind: 'storage-failed';
  /** `ENOSPC`, `EIO`, … */
  cause: string;
  workers: number[];
  /** True when writes resume by themselves once space is back. */
  autoResume: boolean;
  message: string;
}

export interface ClosedReason {
  kind: 'closed';
  message: 'closed';
}

export type HealthReason = WorkerFailedReason | WorkerDownReason | PartitionStoppedReason | StorageFailedReason | ClosedReason;

/**
 * Cluster mode: this node's cache cannot follow a partition another member writes (a foreign message in
 * its stream, damage, the stream gone, NATS unreachable); retried every 15 s at most, cleared once it
 * follows again. The node still serves what it owns and forwards the rest.
 */
export interface FollowFailedReason {
  kind: 'follow-failed';
  partition: number;
  /** The failure's error code (`CorruptLog`, `Unavailable`, ...). */
  code: string;
  message: string;
}

/** What degrades the runtime without making it unhealthy. */
export type DegradedReason = FollowFailedReason;

/** A followed partition failing now, as the runtime reads it at report time. */
export interface FollowFailure {
  partition: number;
  code: string;
  message: string;
}

export interface RuntimeHealth {
  /** True when there is no reason. */
  ok: boolean;
  reasons: HealthReason[];
  /** Present when something degrades the runtime without making it unhealthy (see the header); `ok` may still be true. */
  degraded?: DegradedReason[];
  /** Present while writes are stopped by a storage failure. */
  storage?: StorageStatus;
}

/** What the report reads at the moment it is asked. */
export interface HealthSources {
  slots: readonly { readonly index: number; readonly down: RuntimeError | null }[];
  storage: { status(): StorageStatus | null; reason(): string | null };
  closed: boolean;
  /** Cluster mode: followed partitions whose following fails now. */
  followFailures?: readonly FollowFailure[];
}

export class HealthBook {
  /** `worker:<i>` / `partition:<p>` -> the reason, in the order they happened. */
  readonly #reported = new Map<string, WorkerFailedReason | PartitionStoppedReason>();
  /** The stopped partitions, for the per-load check (no key string built). */
  readonly #stopped = new Set<number>();

  workerFailed(worker: number, error: RuntimeError): void {
    this.#reported.set(`worker:${worker}`, { kind: 'worker-failed', worker, code: error.code, message: `worker ${worker}: ${error.message}` });
  }

  /** A fresh thread took over the worker's partitions: what it reported before is gone. */
  workerRestarted(worker: number): void {
    this.#reported.delete(`worker:${worker}`);
  }

  partitionStopped(partition: number, error: RuntimeError): void {
    this.#reported.set(`partition:${partition}`, { kind: 'partition-stopped', partition, code: error.code, message: error.message });
    this.#stopped.add(partition);
  }

  partitionResumed(partition: number): void {
    this.#reported.delete(`partition:${partition}`);
    this.#stopped.delete(partition);
  }

  isStopped(partition: number): boolean {
    return this.#stopped.has(partition);
  }

  /** Why a partition is stopped (for `partitions()`), or undefined. */
  stoppedReason(partition: number): string | undefined {
    return this.#reported.get(`partition:${partition}`)?.message;
  }

  report(sources: HealthSources): RuntimeHealth {
    const reasons: HealthReason[] = [...this.#reported.values()];
    for (const s of sources.slots) {
      if (s.down && !this.#reported.has(`worker:${s.index}`)) reasons.push({ kind: 'worker-down', worker: s.index, code: s.down.code, message: s.down.message });
    }
    const storage = sources.storage.status();
    const storageReason = sources.storage.reason();
    if (storage && storageReason) reasons.push({ kind: 'storage-failed', cause: storage.cause, workers: storage.workers, autoResume: storage.autoResume, message: storageReason });
    if (sources.closed) reasons.push({ kind: 'closed', message: 'closed' });
    const degraded: DegradedReason[] = (sources.followFailures ?? []).map((f) => ({
      kind: 'follow-failed',
      partition: f.partition,
      code: f.code,
      message: `partition ${f.partition}: following the log of record fails (${f.code}: ${f.message})`,
    }));
    return { ok: reasons.length === 0, reasons, ...(degraded.length > 0 ? { degraded } : {}), ...(storage ? { storage } : {}) };
  }
}
