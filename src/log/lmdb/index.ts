/**
 * The LMDB adapter of the log port (port.ts): the embedded default. `LmdbLog` is the log; the rest is
 * what the runtime, the server and the tools need around it: the record codec, the data-dir lock and
 * checks, LMDB's damage codes as our errors, and maintenance (verify, backup, salvage).
 */
export { LmdbLog } from './lmdb-log.js';
export { LmdbSubjectKeys, backupSubjectKeys, KEYS_FILE, SUBJECT_KEY_BYTES } from './subject-keys.js';
export { LOG_FORMAT_VERSION } from './environment.js';
export { INDEX_RUN } from './partition-index.js';
export type { StagedWrite } from './write-chain.js';
export { encodeRecord, decodeRecord, corruptRecord } from '../record-codec.js';
export { lockDataDir, type DirLock } from './dir-lock.js';
export { asLogError, lmdbDamage } from './storage-errors.js';
export { checkDataDir, readManifest, readMetaPages, LOG_FILE, MANIFEST_FILE, type Manifest, type MetaPage } from './data-dir-check.js';
export * from './maintenance/index.js';
