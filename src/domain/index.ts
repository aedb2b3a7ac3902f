export * from './types.js';
export { accountDecider, type AccountState, type AccountCommand, type AccountEvent } from './account.js';
export { videoDecider, FINAL_STATUSES, STATUS_AFTER, type VideoState, type VideoStatus, type VideoCommand, type VideoEvent, type Rendition, type VideoSource } from './video.js';
export { auditDecider, isSystemType, AUDIT_TYPE, AUDIT_STREAM, AUDIT_KINDS, type AuditKind, type AuditTarget, type AuditRecord, type AuditState, type AuditEvent } from './audit.js';
export { STREAM_DELETED, STREAM_UNDELETED, STREAM_TOMBSTONED, DELETE_STREAM, UNDELETE_STREAM, TOMBSTONE_STREAM, LIVE, DELETED, TOMBSTONED, isLifecycleType, lifecycleAfter, type Lifecycle, type LifecycleData } from './stream-lifecycle.js';
