/**
 * How one event is stored: the value of an `events` record, and each element of a page (lmdb/pages.ts), is
 * `[type, data, ts, partition, offset, meta, schemaVersion?]` (framed by record-codec.ts), by both adapters; the stream and
 * the seq are the key. The record carries its own partition and offset, so a partition-index ref can be
 * checked against the event it points at (lmdb/partition-index.ts).
 *
 * Gotchas:
 * - This tuple is the on-disk format (see LOG_FORMAT_VERSION in lmdb/environment.ts); the memory adapter stores the same bytes.
 * - `schemaVersion` (port.ts, "Schema versions") is written only when > 1: a version-1 record stays
 *   byte-identical to one written before versions existed, so old data dirs read as v1 with no format bump.
 */
import type { EventEnvelope, EventMeta } from '../kernel/index.js';

export type StoredEvent = [type: string, data: unknown, ts: number, partition: number, offset: number, meta: EventMeta | null, schemaVersion?: number];
export type StreamRef = [aggregateType: string, id: string, seq: number];

/** Meta worth storing (an empty one is stored as null). */
export function hasMeta(m: EventMeta | undefined): m is EventMeta {
  return !!m && (m.commandId !== undefined || m.correlationId !== undefined || m.causationId !== undefined);
}

export function toEnvelope(aggregateType: string, stream: string, seq: number, r: StoredEvent): EventEnvelope {
  const e: EventEnvelope = { aggregateType, stream, type: r[0], seq, data: r[1], ts: r[2], partition: r[3], offset: r[4], meta: r[5] ?? {} };
  if (r[6] !== undefined) e.schemaVersion = r[6];
  return e;
}

/** An event as stored; its schema version only when > 1, so version-1 records stay byte-identical to older ones. */
export function toStored(e: EventEnvelope): StoredEvent {
  const r: StoredEvent = [e.type, e.data, e.ts, e.partition, e.offset, hasMeta(e.meta) ? e.meta : null];
  if (e.schemaVersion !== undefined && e.schemaVersion > 1) r[6] = e.schemaVersion;
  return r;
}
