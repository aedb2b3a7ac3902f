/** Maintenance of an LMDB data dir: verify, hot backup and restore, salvage (see each module's header). */
export { verifyDataDir, type VerifyReport, type VerifyProblem, type VerifyOptions, type PartitionVerdict, type ProblemBucket } from './verify.js';
export { backupLog, restoreBackup, readBackupInfo, BACKUP_INFO_FILE, type BackupInfo, type BackupResult, type BackupOptions, type RestoreResult } from './backup.js';
export { salvageLog, QUARANTINE_FILE, SALVAGE_REPORT_FILE, type SalvageReport, type SalvageOptions, type LostEvent } from './salvage.js';
// The raw handle (lmdb types) stays inside src/log: only what a data dir path opens is exported.
export { hasLog, noLogError, LOG_FILE } from './raw-log.js';
