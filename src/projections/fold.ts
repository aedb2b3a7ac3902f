/**
 * Recomputing a view from the log: the truth that rebuild writes and reconcile compares against. Used
 * by the worker that owns the partitions (live server) and by scripts/ on a stopped data dir; both are
 * then the only writer of the rows they touch.
 */
import { isDeepStrictEqual } from 'node:util';
import { ErrorCodes, RuntimeError } from '../kernel/index.js';
import type { RuntimeLog } from '../log/index.js';
import { partitionOf } from '../partition/index.js';
import { applyEvent, type AnyProjection } from './types.js';

export interface Mismatch {
  id: string;
  view: unknown;
  truth: unknown;
}

/** A partition reconcile could not read: its rows were neither compared nor repaired. */
export interface DamagedPartition {
  partition: number;
  code: string;
  message: string;
}

export interface ReconcileReport {
  checked: number;
  drift: number;
  mismatches: Mismatch[];
  repaired: number;
  /** Partitions whose log could not be read (damage): listed, instead of failing the whole reconcile. */
  damaged: DamagedPartition[];
}

/** Rows of `partitions` as a fresh fold of their events with offset < `upTo(partition)`. */
export function foldPartitions(
  log: RuntimeLog,
  projection: AnyProjection,
  partitions: readonly number[],
  upTo: (partition: number) => number,
  onProgress?: (eventsRead: number) => void,
  onDamage?: (damaged: DamagedPartition) => void,
): Map<string, unknown> {
  const rows = new Map<string, unknown>();
  const types = new Set(projection.aggregateTypes);
  let read = 0;
  for (const p of partitions) {
    const end = upTo(p);
    if (end <= 0) continue;
    try {
      for (const e of log.iteratePartition(p, 0, end)) {
        if (++read % 10_000 === 0) onProgress?.(read);
        if (!types.has(e.aggregateType)) continue;
        const next = applyEvent(projection, rows.get(e.stream), e);
        if (next === undefined) rows.delete(e.stream);
        else rows.set(e.stream, next);
      }
    } catch (err) {
      // Without `onDamage` (rebuild) damage fails the whole fold: a view built on a hole is wrong.
      // (every adapter reports damage the store itself found as CorruptLog.)
      if (!onDamage || !(RuntimeError.is(err, ErrorCodes.CorruptRecord) || RuntimeError.is(err, ErrorCodes.CorruptLog))) throw err;
      onDamage({ partition: p, code: err.code, message: err.message });
      // The partition's streams live in it alone: forget the half of them folded before the damage.
      for (const id of rows.keys()) if (partitionOf(id, log.partitions) === p) rows.delete(id);
    }
  }
  onProgress?.(read);
  return rows;
}

/**
 * Compares a generation of a view with a fresh fold, for the given partitions, up to that generation's
 * checkpoints (rows and checkpoints are written together, so they describe the same prefix of the log).
 * With `repair`, writes the truth over every mismatching row (queued into the current write batch).
 */
export function reconcilePartitions(
  log: RuntimeLog,
  projection: AnyProjection,
  generation: number,
  partitions: readonly number[],
  options: { repair?: boolean; maxMismatches?: number; onProgress?: (eventsRead: number) => void; onRepaired?: (id: string, row: unknown) => void } = {},
): ReconcileReport {
  const owned = new Set(partitions);
  const checkpoint = (p: number) => log.views.checkpoint(projection.name, generation, p);
  const damaged: DamagedPartition[] = [];
  const truth = foldPartitions(log, projection, partitions, checkpoint, options.onProgress, (d) => {
    damaged.push(d);
    owned.delete(d.partition);
  });
  const mismatches: Mismatch[] = [];
  let checked = 0;
  let drift = 0;
  const seen = new Set<string>();
  const note = (id: string, view: unknown, t: unknown) => {
    drift++;
    if (mismatches.length < (options.maxMismatches ?? 100)) mismatches.push({ id, view: view ?? null, truth: t ?? null });
  };
  const wrong: [string, unknown][] = [];
  for (const { id, row } of log.views.rows(projection.name, generation)) {
    if (!owned.has(partitionOf(id, log.partitions))) continue;
    checked++;
    seen.add(id);
    const t = truth.get(id);
    if (!isDeepStrictEqual(row, t)) {
      note(id, row, t);
      wrong.push([id, t]);
    }
  }
  for (const [id, t] of truth) {
    if (seen.has(id)) continue;
    checked++;
    note(id, undefined, t);
    wrong.push([id, t]);
  }
  let repaired = 0;
  if (options.repair) {
    for (const [id, t] of wrong) {
      void log.views.putRow(projection.name, generation, id, t);
      options.onRepaired?.(id, t);
      repaired++;
    }
  }
  return { checked, drift, mismatches, repaired, damaged };
}
