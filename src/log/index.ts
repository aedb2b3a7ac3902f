export type { AppendRequest, BatchWriter, CommandRecord, Committed, Durability, EventLog, EventLogOptions, Evolve, FoldResult, LogReader, RuntimeLog, Staged, StoredSnapshot, StreamHead, ViewMeta, ViewStore } from './port.js';
export { NEARLY_FULL_BYTES, describeCause, diagnoseWriteError, freeBytes, isSpaceCause, mountOf, refusedAfter, storageFailed, type StorageCause, type WriteOutcome } from './storage-failure.js';
export { EVENT_PAGE } from './event-page.js';
export { encodeRecord, decodeRecord, corruptRecord } from './record-codec.js';
// The embedded LMDB adapter (the default log) and its tools.
export * from './lmdb/index.js';
// The in-memory adapter (one thread, no disk).
export { MemoryLog, openMemoryLog, type MemoryLogOptions } from './memory/index.js';
// The JetStream adapter (cluster mode: JetStream the log of record, a local LmdbLog the cache).
export { JetStreamLog, type JetStreamLogOptions, type PartitionLeases, type PartitionTip } from './jetstream/index.js';
