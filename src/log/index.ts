export type { AppendRequest, BatchWriter, CommandRecord, Committed, Durability, EventLog, EventLogOptions, Evolve, FoldResult, ForgetOutcome, SubjectKey, SubjectKeys, LogReader, PartitionTrim, PrefixRemoval, RetentionSettings, RuntimeLog, Staged, StoredSnapshot, StreamHead, ViewMeta, ViewStore } from './port.js';
export { NEARLY_FULL_BYTES, describeCause, diagnoseWriteError, freeBytes, isSpaceCause, mountOf, refusedAfter, storageFailed, type StorageCause, type WriteOutcome } from './storage-failure.js';
export { EVENT_PAGE } from './event-page.js';
export { PAGE_PART_MIN } from './read-helpers.js';
export { encodeRecord, decodeRecord, corruptRecord } from './record-codec.js';
// The embedded LMDB adapter (the default log) and its tools.
export * from './lmdb/index.js';
// The in-memory adapter (one thread, no disk).
export { MemoryLog, openMemoryLog, type MemoryLogOptions } from './memory/index.js';
// The JetStream adapter (cluster mode: JetStream the log of record, a local LmdbLog the cache). Loaded
// on first use: the embedded runtime, its workers and its tools never load the NATS client.
export type { JetStreamLog, JetStreamLogOptions, PartitionLeases, PartitionTip } from './jetstream/index.js';
export { openJetStreamLog } from './jetstream-loader.js';
