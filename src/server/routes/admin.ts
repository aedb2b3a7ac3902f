/**
 * `/admin/...`: operator actions on the live log. Under `/admin/` so the admin token scope (when tokens
 * are configured) covers every route here.
 *
 * - `POST /admin/backup` `{ name }`: a hot backup (LMDB copy with compaction, then a verify of the copy)
 *   into `<backupDir>/<name>`. The destination is always server-made from a checked name, never a path
 *   from the client. One backup at a time.
 * - `GET|POST /admin/verify`: verify the live log (every record, checksum and index run; see
 *   log/lmdb/maintenance/verify.ts), counting only what was committed before the request.
 *
 * Both run in a worker thread (workers/log-maintenance.ts): a verify reads the whole log, and the main
 * thread must keep serving meanwhile. Iteration there uses `snapshot: false`, so no read transaction
 * pins old pages for the whole run.
 */
import { join, resolve } from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import { deserializeError, ErrorCodes, RuntimeError, type SerializedError } from '../../kernel/index.js';
import type { BackupResult, VerifyReport } from '../../log/index.js';
import { spawnWorker, type Runtime } from '../../runtime/index.js';

export interface AdminRoutesOptions {
  runtime: Runtime;
  /** Where named backups go. Default: $BACKUP_DIR, else `<dataDir>/../backups`. */
  backupDir?: string | undefined;
}

/** Backup names: one path segment, no dot-dot games (`.` and `..` are refused below). */
const BACKUP_NAME = '^[A-Za-z0-9_.-]{1,64}$';

export const adminRoutes: FastifyPluginAsync<AdminRoutesOptions> = async (app, { runtime, backupDir }) => {
  const backups = resolve(backupDir ?? (process.env['BACKUP_DIR'] || join(runtime.dataDir, '..', 'backups')));
  const busy = { backup: false, verify: false };

  app.post<{ Body: { name: string; compact?: boolean } }>(
    '/admin/backup',
    {
      schema: {
        body: {
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: { name: { type: 'string', pattern: BACKUP_NAME }, compact: { type: 'boolean', default: true } },
        },
      },
    },
    async (request, reply) => {
      const { name, compact } = request.body;
      if (name === '.' || name === '..') throw new RuntimeError(ErrorCodes.InvalidCommand, `backup name ${JSON.stringify(name)} is not allowed`);
      const result = await exclusive(busy, 'backup', () => runJob({ op: 'backup', dataDir: runtime.dataDir, dest: join(backups, name), compact: compact ?? true })).catch((err: unknown) => {
        // The tool's message names the server's path: say it by the name the client chose.
        if (RuntimeError.is(err, ErrorCodes.AlreadyExists)) throw new RuntimeError(ErrorCodes.AlreadyExists, `a backup named ${JSON.stringify(name)} exists; choose a new name`, { name });
        throw err;
      });
      // Server paths (dest, source) stay on the server: the client named the backup, that is its handle.
      const { ok, info, verify, durationMs } = result as BackupResult;
      const { source: _source, ...shown } = info;
      request.log.info({ backup: name, ok, events: info.events }, 'backup made');
      if (!ok) {
        throw new RuntimeError(ErrorCodes.CorruptLog, `backup ${name} was made, but the copy does not verify: the live log is damaged; run GET /admin/verify`, { name, partitions: damagedPartitions(verify) });
      }
      reply.code(201);
      return { name, ok, ...shown, durationMs };
    },
  );

  const verify = async () => {
    runtime.log.refreshReads();
    const heads = Array.from({ length: runtime.partitionCount }, (_, p) => runtime.log.partitionHead(p));
    const { dataDir: _dataDir, ...report } = (await exclusive(busy, 'verify', () => runJob({ op: 'verify', dataDir: runtime.dataDir, heads, maxProblems: 100 }))) as VerifyReport;
    return report;
  };
  app.get('/admin/verify', verify);
  app.post('/admin/verify', verify);
};

function damagedPartitions(report: VerifyReport): number[] {
  return report.partitions.filter((p) => p.status === 'damaged').map((p) => p.partition);
}

async function exclusive<T>(busy: Record<string, boolean>, what: string, work: () => Promise<T>): Promise<T> {
  if (busy[what]) throw new RuntimeError(ErrorCodes.Overloaded, `a ${what} is running already; retry when it is done`, { retryAfterMs: 1000 }, true);
  busy[what] = true;
  try {
    return await work();
  } finally {
    busy[what] = false;
  }
}

function runJob(job: Record<string, unknown>): Promise<unknown> {
  return new Promise((resolveJob, reject) => {
    const worker = spawnWorker('log-maintenance', job);
    let settled = false;
    worker.once('message', (m: { ok: true; result: unknown } | { ok: false; error: SerializedError }) => {
      settled = true;
      if (m.ok) resolveJob(m.result);
      else reject(deserializeError(m.error));
    });
    worker.once('error', (err) => {
      settled = true;
      reject(err);
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new RuntimeError(ErrorCodes.Internal, `the maintenance thread exited (${code}) without an answer`));
    });
  });
}
