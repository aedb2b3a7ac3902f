/**
 * How one event is stored: the value of an `events` record, and each element of a page (pages.ts), is
 * `[type, data, ts, partition, offset, meta]` (framed by record-codec.ts); the stream and the seq are
 * the key. The record carries its own partition and offset, so a partition-index ref can be checked
 * against the event it points at (partition-index.ts).
 *
 * Gotchas: this tuple is the on-disk format (see LOG_FORMAT_VERSION in environment.ts).
 */
import type { EventEnvelope, EventMeta } from '../../kernel/index.js';

export type StoredEvent = [type: string, data: unknown, ts: number, partition: number, offset: number, meta: EventMeta | null];
export type StreamRef = [aggregateType: string, id: string, seq: number];

/** Meta worth storing (an empty one is stored as null). */
export function hasMeta(m: EventMeta | undefined): m is EventMeta {
  return !!m && (m.commandId !== undefined || m.correlationId !== undefined || m.causationId !== undefined);
}

export function toEnvelope(aggregateType: string, stream: string, seq: number, r: StoredEvent): EventEnvelope {
  return { aggregateType, stream, type: r[0], seq, data: r[1], ts: r[2], partition: r[3], offset: r[4], meta: r[5] ?? {} };
}
