/** The embedded API. */
export * from './kernel/index.js';
export * from './domain/index.js';
export * from './runtime/index.js';
export { EVENT_PAGE, EventLog } from './log/index.js';
export { backupLog, restoreBackup, verifyDataDir, salvageLog, type BackupResult, type RestoreResult, type VerifyReport, type SalvageReport } from './log/index.js';
export { partitionOf, hashId } from './partition/index.js';
