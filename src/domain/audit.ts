/**
 * The audit stream: every data-lifecycle operation (a retention change, a deletion, a forgotten data
 * subject) is itself an event, in one system stream, `$audit/lifecycle`, so the log records who removed
 * what and when, in the order it happened. The runtime appends to it (`runtime.audit`); no client can:
 * the type is a system type (its name starts with `$`, which no route's aggregate type can be), and
 * its one command is internal.
 *
 * Gotchas:
 * - An audit event never carries what was removed (a forgotten subject's personal data, the events a
 *   retention cut hides): only ids, the settings and who asked. It stays readable forever.
 * - New kinds may be added (append to `AUDIT_KINDS`); a kind is never renamed or removed (old events
 *   keep their type forever).
 */
import { ID_PATTERN } from '../kernel/index.js';
import type { Command, Decider, DomainEvent } from './types.js';

/** The audit stream's aggregate type and stream id. */
export const AUDIT_TYPE = '$audit';
export const AUDIT_STREAM = 'lifecycle';

/** What an audit event records; the event's type is the kind. */
export const AUDIT_KINDS = ['RetentionSet', 'StreamDeleted', 'StreamUndeleted', 'StreamTombstoned', 'SubjectForgotten', 'ScavengeCompleted'] as const;
export type AuditKind = (typeof AUDIT_KINDS)[number];

/** What an operation was about: a stream, every stream of a type, or a data subject. */
export interface AuditTarget {
  aggregateType?: string;
  id?: string;
  subject?: string;
}

export interface AuditRecord {
  target: AuditTarget;
  /** Who asked: a token's name, `cli`, or null (an embedder's call without one). */
  by: string | null;
  /** The operation's settings or outcome (e.g. `{ maxCount: 1000 }`, `{ version: 12 }`); never personal data. */
  details: Record<string, unknown>;
}

export type AuditCommand = Command<'Record', { kind: AuditKind; target: AuditTarget; by?: string | null; details?: Record<string, unknown> }>;
export type AuditEvent = DomainEvent<AuditKind, AuditRecord>;

export interface AuditState {
  /** Events recorded so far. */
  recorded: number;
}

const name = { type: 'string', pattern: ID_PATTERN };

export const auditDecider: Decider<AuditState, AuditCommand, AuditEvent> = {
  type: AUDIT_TYPE,
  snapshotVersion: 1,
  publicCommands: [],
  commands: {
    Record: {
      type: 'object',
      required: ['kind', 'target'],
      additionalProperties: false,
      properties: {
        kind: { enum: [...AUDIT_KINDS] },
        target: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: { aggregateType: name, id: name, subject: name },
        },
        by: { anyOf: [{ type: 'string', minLength: 1, maxLength: 128 }, { type: 'null' }] },
        details: { type: 'object', maxProperties: 32 },
      },
    },
  },
  initialState: () => ({ recorded: 0 }),
  decide(command) {
    const { kind, target, by, details } = command.data;
    return [{ type: kind, data: { target, by: by ?? null, details: details ?? {} } }];
  },
  evolve(state) {
    return { recorded: state.recorded + 1 };
  },
};

/** System aggregate types (the audit stream's) are never listed with the domain's, nor routed. */
export function isSystemType(aggregateType: string): boolean {
  return aggregateType.startsWith('$');
}

export default auditDecider;
