/**
 * `client.admin`: the operator's calls (`/admin/...`, docs/http-api.md): retention, stream deletion,
 * scavenge, the audit stream, forgetting a data subject, backup, verify, and resuming writes or a
 * partition. Every call needs a token with the admin scope (403 `Forbidden` otherwise).
 *
 * The writes that take a `commandId` (retention, delete, undelete) are safe to retry with the same one
 * after an unknown outcome; forget is idempotent by itself; a scavenge pass may simply run again.
 */
import { segment as seg, type CallOptions, type Transport } from './http.js';
import type { AuditPage, AuditRecordJson, BackupReport, ForgetResult, LastScavenge, RetentionChange, RetentionInfo, RetentionSettings, ScavengeReport, StreamDeletion, StreamLifecycleResult, VerifyReport } from './types.js';

/** A stream's or a type's retention: with `id`, one stream; without, every stream of the type. */
export interface RetentionOptions extends CallOptions {
  id?: string | undefined;
}

export interface SetRetentionOptions extends RetentionOptions {
  /** The audit record's id: a retry with the same one records once. */
  commandId?: string | undefined;
}

export interface StreamLifecycleOptions extends CallOptions {
  commandId?: string | undefined;
  /** Fail with 409 `VersionConflict` unless the stream is at exactly this version. */
  expectedVersion?: number | undefined;
}

export interface AuditOptions extends CallOptions {
  /** Records before this seq, newest first (absent, and no `from`: from the newest). */
  before?: number | undefined;
  /** Records from this seq, oldest first. */
  from?: number | undefined;
  /** Records per page (1..500, default 100). */
  limit?: number | undefined;
}

/** How long a backup or a verify may take before the client gives up waiting (the server goes on). */
const MAINTENANCE_TIMEOUT_MS = 10 * 60_000;

export class AdminApi {
  readonly #http: Transport;

  constructor(http: Transport) {
    this.#http = http;
  }

  /** The stored retention settings (`settings: null`: none) and, for a stream, its cut as reads apply it now. */
  retention(type: string, options: RetentionOptions = {}): Promise<RetentionInfo> {
    const { id, ...call } = options;
    return this.#http.json({ method: 'GET', path: retentionPath(type, id), ...call });
  }

  /** Sets (`null`: removes) the retention of every stream of `type`, or of one stream (`id`); recorded in the audit stream. */
  setRetention(type: string, settings: RetentionSettings | null, options: SetRetentionOptions = {}): Promise<RetentionChange> {
    const { id, commandId, ...call } = options;
    return this.#http.json({ method: 'PUT', path: retentionPath(type, id), json: { settings, commandId }, ...call });
  }

  /** Soft-deletes a stream (reads answer 404 `StreamNotFound`), or with `hard` tombstones it for good (410 `StreamDeleted`). */
  deleteStream(type: string, id: string, options: StreamLifecycleOptions & { hard?: boolean | undefined } = {}): Promise<StreamDeletion> {
    const { hard, commandId, expectedVersion, ...call } = options;
    return this.#http.json({ method: 'POST', path: `/admin/streams/${seg(type)}/${seg(id)}/delete`, json: { hard, commandId, expectedVersion }, ...call });
  }

  /** Undoes a soft deletion (409 `StreamNotDeleted` when there is none to undo). */
  undeleteStream(type: string, id: string, options: StreamLifecycleOptions = {}): Promise<StreamLifecycleResult> {
    const { commandId, expectedVersion, ...call } = options;
    return this.#http.json({ method: 'POST', path: `/admin/streams/${seg(type)}/${seg(id)}/undelete`, json: { commandId, expectedVersion }, ...call });
  }

  /** Runs a scavenge pass now over every type, one type, or one stream (`{ aggregateType, id }`). */
  scavenge(target: { aggregateType?: string; id?: string } = {}, options: CallOptions = {}): Promise<ScavengeReport> {
    return this.#http.json({ method: 'POST', path: '/admin/scavenge', json: target, ...options });
  }

  /** The last pass's outcome (the background schedule's or an asked one); null before the first. */
  lastScavenge(options: CallOptions = {}): Promise<LastScavenge> {
    return this.#http.json({ method: 'GET', path: '/admin/scavenge', ...options });
  }

  /** A page of the audit stream: newest first (`older` names the next page), or with `from` oldest first (`next`). */
  audit(options: AuditOptions = {}): Promise<AuditPage> {
    const { before, from, limit, ...call } = options;
    return this.#http.json({ method: 'GET', path: '/admin/audit', query: { before, from, limit }, ...call });
  }

  /** Every audit record from `from` (default 1), oldest first, a page at a time. */
  async *auditRecords(options: Omit<AuditOptions, 'before'> = {}): AsyncGenerator<AuditRecordJson, void, undefined> {
    let from = options.from ?? 1;
    for (;;) {
      const page = await this.audit({ ...options, from });
      yield* page.records;
      if (page.next === undefined) return;
      from = page.next;
    }
  }

  /** Crypto-shredding: deletes the subject's key, so every personal field sealed with it reads as null from now on. */
  forget(subject: string, options: CallOptions = {}): Promise<ForgetResult> {
    return this.#http.json({ method: 'POST', path: `/admin/subjects/${seg(subject)}/forget`, json: {}, ...options });
  }

  /** A hot backup into the server's backup dir under `name`, verified (409 `AlreadyExists` for a name in use). */
  backup(name: string, options: CallOptions & { compact?: boolean | undefined } = {}): Promise<BackupReport> {
    const { compact, ...call } = options;
    return this.#http.json({ method: 'POST', path: '/admin/backup', json: { name, compact }, ...call, timeoutMs: call.timeoutMs ?? MAINTENANCE_TIMEOUT_MS });
  }

  /** Verifies the live log: every record, checksum and index entry. */
  verify(options: CallOptions = {}): Promise<VerifyReport> {
    return this.#http.json({ method: 'GET', path: '/admin/verify', ...options, timeoutMs: options.timeoutMs ?? MAINTENANCE_TIMEOUT_MS });
  }

  /** After a storage failure (disk full): resume writes now if the storage is writable again (else 503 `StorageFailed`). */
  resumeWrites(options: CallOptions = {}): Promise<{ resumed: boolean; workers: number[] }> {
    return this.#http.json({ method: 'POST', path: '/admin/storage/resume', json: {}, ...options });
  }

  /** Resumes a partition stopped on damage, once repaired. */
  resumePartition(partition: number, options: CallOptions = {}): Promise<{ partition: number; wasStopped: boolean; offset: number; resumed: true }> {
    return this.#http.json({ method: 'POST', path: `/admin/partitions/${partition}/resume`, json: {}, ...options });
  }
}

function retentionPath(type: string, id: string | undefined): string {
  return id === undefined ? `/admin/retention/${seg(type)}` : `/admin/retention/${seg(type)}/${seg(id)}`;
}
