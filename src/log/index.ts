export type { AppendRequest, BatchWriter, CommandRecord, Committed, Durability, EventLog, EventLogOptions, Evolve, FoldResult, LogReader, RuntimeLog, Staged, StoredSnapshot, ViewMeta, ViewStore } from './port.js';
export { NEARLY_FULL_BYTES, describeCause, diagnoseWriteError, freeBytes, isSpaceCause, mountOf, refusedAfter, storageFailed, type StorageCause, type WriteOutcome } from './storage-failure.js';
// The embedded LMDB adapter (the default log) and its tools.
export * from './lmdb/index.js';
