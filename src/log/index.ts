export { EventLog, EVENT_PAGE, INDEX_RUN, LOG_FORMAT_VERSION, type FoldResult, type Durability, type EventLogOptions, type StoredSnapshot, type StagedWrite } from './event-log.js';
export { encodeRecord, decodeRecord } from './record-codec.js';
export { ViewStore, type ViewMeta } from './view-store.js';
export { lockDataDir, type DirLock } from './dir-lock.js';
export * from './maintenance/index.js';
