/**
 * Rebuild and reconcile on a stopped server's data dir (scripts/views.ts). The caller holds the data
 * dir lock, so this process is the only writer and may touch every partition.
 */
import type { RuntimeLog } from '../log/index.js';
import { foldPartitions, reconcilePartitions, type ReconcileReport } from './fold.js';
import type { AnyProjection } from './types.js';

const allPartitions = (log: RuntimeLog) => Array.from({ length: log.partitions }, (_, p) => p);

export async function rebuildOffline(log: RuntimeLog, projection: AnyProjection, onProgress?: (eventsRead: number, total: number) => void): Promise<{ generation: number; rows: number }> {
  const parts = allPartitions(log);
  const heads = parts.map((p) => log.partitionHead(p));
  const total = heads.reduce((a, b) => a + b, 0);
  const truth = foldPartitions(log, projection, parts, (p) => heads[p]!, (n) => onProgress?.(n, total));
  const meta = log.views.meta(projection.name);
  const generation = Math.max(meta.active, meta.building ?? 0) + 1;
  let last: Promise<unknown> | null = null;
  for (const [id, row] of truth) last = log.views.putRow(projection.name, generation, id, row);
  for (const p of parts) last = log.views.putCheckpoint(projection.name, generation, p, heads[p]!);
  if (last) await last;
  await log.views.setMeta(projection.name, { active: generation, building: null });
  await log.views.dropGeneration(projection.name, meta.active);
  if (meta.building !== null) await log.views.dropGeneration(projection.name, meta.building);
  return { generation, rows: truth.size };
}

export async function reconcileOffline(log: RuntimeLog, projection: AnyProjection, options: { repair?: boolean; maxMismatches?: number; onProgress?: (eventsRead: number) => void } = {}): Promise<ReconcileReport> {
  const generation = log.views.meta(projection.name).active;
  const report = reconcilePartitions(log, projection, generation, allPartitions(log), options);
  if (report.repaired > 0) await log.views.committed();
  return report;
}
