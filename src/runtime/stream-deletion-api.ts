/**
 * The main thread's side of stream deletion (stream-deletion.ts is the owner's): the state cache's
 * marks for deleted streams, the errors their reads answer, and the audit record of each operation.
 *
 * Why marks in the state cache rather than dropping the entry: the cache only moves forward (an offer
 * older than its entry is ignored), so a mark at the deletion's version keeps a load that read the
 * stream before the deletion from putting the old state back (state-cache.ts, Gotchas).
 */
import { commandDigest } from './command-digest.js';
import { errors, type RuntimeError } from '../kernel/index.js';
import { DELETE_STREAM, DELETED, LIVE, TOMBSTONE_STREAM, TOMBSTONED, UNDELETE_STREAM, type AuditKind, type AuditTarget, type Lifecycle } from '../domain/index.js';

/** What `Runtime.deleteStream` / `undeleteStream` ask the owner to do. */
export type StreamLifecycleCommand = 'delete' | 'tombstone' | 'undelete';

export const LIFECYCLE_COMMAND_TYPES: Record<StreamLifecycleCommand, string> = { delete: DELETE_STREAM, tombstone: TOMBSTONE_STREAM, undelete: UNDELETE_STREAM };

type LifecycleAuditKind = Extract<AuditKind, 'StreamDeleted' | 'StreamTombstoned' | 'StreamUndeleted'>;

const AUDIT_KIND: Record<StreamLifecycleCommand, LifecycleAuditKind> = { delete: 'StreamDeleted', tombstone: 'StreamTombstoned', undelete: 'StreamUndeleted' };

const DELETED_MARK = Object.freeze({ deleted: 'soft' });
const TOMBSTONE_MARK = Object.freeze({ deleted: 'hard' });

/** The state cache's entry for a deleted stream. */
export function deletedMark(life: Lifecycle): object {
  return life === TOMBSTONED ? TOMBSTONE_MARK : DELETED_MARK;
}

/** LIVE unless `state` is a deletion mark. */
export function lifecycleOfMark(state: unknown): Lifecycle {
  return state === DELETED_MARK ? DELETED : state === TOMBSTONE_MARK ? TOMBSTONED : LIVE;
}

/** What a read of a deleted stream answers: not found (soft), or `StreamDeleted` (tombstoned). */
export function lifecycleError(life: Lifecycle, aggregateType: string, id: string): RuntimeError {
  if (life === TOMBSTONED) return errors.streamDeleted(aggregateType, id);
  const err = errors.streamNotFound(aggregateType, id);
  err.details['deleted'] = true;
  return err;
}

/**
 * The audit record of a lifecycle operation that left the stream at `version`. Its command id comes
 * from the operation and that version, so a retry (which finds the stream already so, at the same
 * version) records it once, and records it if the first attempt died before it could.
 */
export function lifecycleAudit(aggregateType: string, id: string, command: StreamLifecycleCommand, version: number, by: string | null): { kind: LifecycleAuditKind; record: { target: { aggregateType: string; id: string }; by: string | null; details: Record<string, unknown> }; commandId: string } {
  const kind = AUDIT_KIND[command];
  const target = { aggregateType, id };
  return { kind, record: { target, by, details: { version } }, commandId: `lifecycle:${commandDigest({ type: kind, data: { target, version } })}` };
}
