/**
 * Envelopes as the HTTP API and the feed show them: the stored envelope with `ts` as an ISO-8601 string
 * (the log keeps epoch ms). One function, so REST bodies and feed messages never disagree.
 */
import type { EventEnvelope, EventMeta } from '../kernel/index.js';

export interface EnvelopeJson {
  aggregateType: string;
  stream: string;
  type: string;
  seq: number;
  data: unknown;
  ts: string;
  partition: number;
  offset: number;
  meta: EventMeta;
}

export function envelopeJson(e: EventEnvelope): EnvelopeJson {
  return {
    aggregateType: e.aggregateType,
    stream: e.stream,
    type: e.type,
    seq: e.seq,
    data: e.data,
    ts: new Date(e.ts).toISOString(),
    partition: e.partition,
    offset: e.offset,
    meta: e.meta ?? {},
  };
}
