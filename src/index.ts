/** The embedded API. */
export * from './kernel/index.js';
export * from './domain/index.js';
export * from './runtime/index.js';
export * from './app/index.js';
export { builtinViews, projectionEngine, PROJECTION_ENGINE_MODULE, type Views } from './projections/index.js';
export { EVENT_PAGE, LmdbLog } from './log/index.js';
export type { EventLog, LogReader, RuntimeLog, BatchWriter, ViewStore, RetentionSettings } from './log/index.js';
export { backupLog, restoreBackup, verifyDataDir, salvageLog, type BackupResult, type RestoreResult, type VerifyReport, type SalvageReport } from './log/index.js';
export { partitionOf, hashId } from './partition/index.js';
