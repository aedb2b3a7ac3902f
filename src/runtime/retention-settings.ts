/**
 * `Runtime.setRetention` and `Runtime.retention` (main thread): settings checked (retention.ts), the
 * change recorded in the audit stream, then stored beside the log (`EventLog.setRetention`).
 *
 * Why the audit record comes first: a crash between the two leaves a record of a change that did not
 * apply yet, which the retry completes (its command id is derived from the target, the new settings and
 * the ones they replace, so the retry finds the record and writes no second one). The other order could
 * leave a change that applied with no record of it, and the retry would then see nothing to change.
 * A retry after a full success changes nothing and records nothing (`changed: false`).
 */
import type { EventLog, RetentionSettings } from '../log/index.js';
import type { AuditKind, AuditTarget } from '../domain/index.js';
import { auditOnce } from './audit-once.js';
import { commandDigest } from './command-digest.js';
import { checkRetention, type RetentionRules, type RetentionTarget } from './retention.js';
import type { ExecuteOptions, RetentionInfo, SetRetentionOptions } from './runtime-api.js';

export interface RetentionParts {
  readonly log: EventLog;
  readonly rules: RetentionRules;
  /** Renews this thread's read snapshot for the stream's partition (read-your-writes). */
  readonly fresh: (id: string) => void;
  readonly audit: (kind: AuditKind, record: { target: AuditTarget; by?: string | null; details?: Record<string, unknown> }, options?: ExecuteOptions) => Promise<unknown>;
}

/** The target already checked (type known, id valid): see create-runtime.ts. */
export async function applyRetention(parts: RetentionParts, target: RetentionTarget, settings: RetentionSettings | null, options: SetRetentionOptions = {}): Promise<RetentionInfo & { changed: boolean }> {
  const { log } = parts;
  const { aggregateType, id } = target;
  if (id !== undefined) parts.fresh(id);
  const head = id === undefined ? undefined : log.streamHead(aggregateType, id).version;
  const next = settings === null ? null : checkRetention(target, settings, head);
  const previous = log.retention(aggregateType, id) ?? null;
  if (sameSettings(previous, next)) return { ...retentionInfo(parts, target), changed: false };
  const auditTarget: AuditTarget = id === undefined ? { aggregateType } : { aggregateType, id };
  const commandId = options.commandId ?? `retention:${commandDigest({ type: 'RetentionSet', data: { target: auditTarget, settings: next, previous } })}`;
  const recorded = parts.audit('RetentionSet', { target: auditTarget, by: options.by ?? null, details: { settings: next, previous } }, { commandId });
  // A derived id taken means this very change is recorded (by another caller); a caller's own id reused
  // for another change stays an error.
  await (options.commandId === undefined ? auditOnce(recorded) : recorded);
  await log.setRetention(aggregateType, id, next);
  log.refreshReads();
  return { ...retentionInfo(parts, target), changed: true };
}

/** The target already checked: see create-runtime.ts. */
export function retentionInfo(parts: Pick<RetentionParts, 'log' | 'rules' | 'fresh'>, target: RetentionTarget): RetentionInfo {
  const { aggregateType, id } = target;
  if (id === undefined) return { aggregateType, settings: parts.log.retention(aggregateType) ?? null };
  parts.fresh(id);
  return { aggregateType, id, settings: parts.log.retention(aggregateType, id) ?? null, stream: parts.rules.of(aggregateType, id) };
}

function sameSettings(a: RetentionSettings | null, b: RetentionSettings | null): boolean {
  if (a === null || b === null) return a === b;
  return a.maxAge === b.maxAge && a.maxCount === b.maxCount && a.truncateBefore === b.truncateBefore;
}
