/**
 * Thin worker entry: runs one log-maintenance job (verify, or backup + verify of the copy) off the
 * server's main thread, which must keep answering requests while a large log is read. lmdb-js shares
 * the process's native environment with this thread, so nothing is mapped twice. The thread ends by
 * itself after closing its handles (never terminated while LMDB is busy: nodejs/node #34567).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { serializeError } from '../src/kernel/index.js';
import { backupLog, verifyDataDir } from '../src/log/index.js';
import { partitionOf } from '../src/partition/index.js';

export type MaintenanceJob = { op: 'verify'; dataDir: string; heads: number[]; maxProblems: number } | { op: 'backup'; dataDir: string; dest: string; compact: boolean };

const job = workerData as MaintenanceJob;

async function run(): Promise<unknown> {
  if (job.op === 'backup') return backupLog(job.dataDir, job.dest, { compact: job.compact, verify: { partitionOf } });
  return verifyDataDir(job.dataDir, { partitionOf, heads: job.heads, maxProblems: job.maxProblems });
}

run().then(
  (result) => parentPort!.postMessage({ ok: true, result }),
  (err: unknown) => parentPort!.postMessage({ ok: false, error: serializeError(err) }),
);
