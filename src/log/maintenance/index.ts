/** Maintenance of an LMDB data dir: verify, hot backup and restore, salvage (see each module's header). */
export { verifyLog, type VerifyReport, type VerifyProblem, type VerifyOptions, type PartitionVerdict, type ProblemBucket } from './verify.js';
export { backupLog, restoreBackup, readBackupInfo, BACKUP_INFO_FILE, type BackupInfo, type BackupResult, type BackupOptions, type RestoreResult } from './backup.js';
export { salvageLog, QUARANTINE_FILE, SALVAGE_REPORT_FILE, type SalvageReport, type SalvageOptions, type LostEvent } from './salvage.js';
export { openRawLog, hasLog, noLogError, LOG_FILE, type RawLog } from './raw-log.js';
