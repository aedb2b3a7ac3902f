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
import { emptyBody, errorResponses } from '../api-schemas.js';

export interface AdminRoutesOptions {
  runtime: Runtime;
  /** Where named backups go. Default: $BACKUP_DIR, else `<dataDir>/../backups`. */
  backupDir?: string | undefined;
}

/** Backup names: one path segment, no dot-dot games (`.` and `..` are refused below). */
const BACKUP_NAME = '^[A-Za-z0-9_.-]{1,64}$';

const count = { type: 'integer', minimum: 0 } as const;
const backupReply = {
  description: 'The backup is complete and verified (its `backup.json`, without server paths)',
  type: 'object',
  required: ['name', 'ok', 'tool', 'created', 'events', 'eventsPerPartition', 'partitions', 'bytes', 'compacted', 'verified', 'formatVersion', 'lmdbVersion', 'toolVersion', 'durationMs'],
  additionalProperties: false,
  properties: {
    name: { type: 'string' },
    ok: { const: true },
    tool: { const: 'eventide' },
    toolVersion: { type: 'string' },
    formatVersion: { type: 'integer' },
    lmdbVersion: { type: 'string' },
    partitions: count,
    created: { type: 'string', format: 'date-time' },
    compacted: { type: 'boolean' },
    bytes: count,
    events: count,
    eventsPerPartition: { type: 'array', items: count },
    verified: { type: 'boolean' },
    subjectKeys: { type: 'boolean', description: "The data dir's key store (crypto-shredding) was copied too" },
    durationMs: { type: 'number', minimum: 0 },
  },
} as const;
const bucket = {
  problems: { type: 'array', items: { type: 'object', required: ['db', 'key', 'problem'], additionalProperties: false, properties: { db: { type: 'string' }, key: { type: 'string' }, problem: { type: 'string' } } } },
  problemCount: count,
  status: { enum: ['ok', 'damaged'] },
} as const;
const verifyReply = {
  description: 'What the scan found, per partition and elsewhere (at most 100 problems listed per bucket)',
  type: 'object',
  required: ['ok', 'formatVersion', 'partitionCount', 'records', 'partitions', 'other', 'startedAt', 'durationMs'],
  additionalProperties: false,
  properties: {
    ok: { type: 'boolean' },
    formatVersion: { type: ['integer', 'null'] },
    partitionCount: count,
    records: { type: 'object', additionalProperties: count, description: 'Records read per database' },
    partitions: {
      type: 'array',
      items: { type: 'object', required: ['partition', 'status', 'events', 'indexed', 'problems', 'problemCount'], additionalProperties: false, properties: { partition: count, events: count, indexed: count, ...bucket } },
    },
    other: { type: 'object', required: ['status', 'problems', 'problemCount'], additionalProperties: false, properties: bucket },
    startedAt: { type: 'string', format: 'date-time' },
    durationMs: { type: 'number', minimum: 0 },
  },
} as const;
const verifySchema = (method: string) => ({
  summary: `Verify the live log: every record, checksum and index entry${method === 'POST' ? ' (as GET)' : ''}`,
  ...(method === 'POST' ? { body: emptyBody } : {}),
  response: { 200: verifyReply, ...errorResponses({ 503: '`Overloaded`: a verify is running' }) },
});

export const adminRoutes: FastifyPluginAsync<AdminRoutesOptions> = async (app, { runtime, backupDir }) => {
  const backups = resolve(backupDir ?? (process.env['BACKUP_DIR'] || join(runtime.dataDir, '..', 'backups')));
  const busy = { backup: false, verify: false };

  app.post<{ Body: { name: string; compact?: boolean } }>(
    '/admin/backup',
    {
      schema: {
        summary: 'A hot backup of the live log into <backup dir>/<name>, verified',
        body: {
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: {
            name: { type: 'string', pattern: BACKUP_NAME, description: 'The backup\'s name (a directory under the server\'s backup dir; never a path)' },
            compact: { type: 'boolean', default: true, description: 'Compact while copying' },
          },
        },
        response: {
          201: backupReply,
          ...errorResponses({
            400: '`InvalidCommand`: a name outside `[A-Za-z0-9_.-]{1,64}`, `.` or `..`, another field',
            409: '`AlreadyExists`: a backup of that name exists',
            503: '`Overloaded` (a backup is running), `CorruptLog` (the copy does not verify: the live log is damaged)',
          }),
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
  app.get('/admin/verify', { schema: verifySchema('GET') }, verify);
  app.post('/admin/verify', { schema: verifySchema('POST') }, verify);
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
