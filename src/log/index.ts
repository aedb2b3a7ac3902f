export type { AppendRequest, BatchWriter, CommandRecord, Committed, Durability, EventLog, EventLogOptions, Evolve, FoldResult, LogReader, RuntimeLog, Staged, StoredSnapshot, ViewMeta, ViewStore } from './port.js';
export { LmdbLog, EVENT_PAGE, INDEX_RUN, LOG_FORMAT_VERSION, type StagedWrite } from './event-log.js';
export { encodeRecord, decodeRecord } from './record-codec.js';
export { lockDataDir, type DirLock } from './dir-lock.js';
export { asLogError, lmdbDamage } from './storage-errors.js';
export { corruptRecord } from './record-codec.js';
export { checkDataDir, readManifest, readMetaPages, LOG_FILE, MANIFEST_FILE, type Manifest, type MetaPage } from './data-dir-check.js';
export { NEARLY_FULL_BYTES, describeCause, diagnoseWriteError, freeBytes, isSpaceCause, mountOf, refusedAfter, storageFailed, type StorageCause, type WriteOutcome } from './storage-failure.js';
export * from './maintenance/index.js';
