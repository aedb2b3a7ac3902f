/** The shapes every layer shares: the stored event envelope and the metadata a command carries. */

export interface EventMeta {
  commandId?: string;
  correlationId?: string;
  causationId?: string;
}

/**
 * One committed event. `seq` is the event's position in its stream (1, 2, 3, ... no gap); `offset` is its
 * position in its partition's log (0, 1, 2, ...). `ts` is wall-clock ms, never decreasing within a stream.
 */
export interface EventEnvelope<D = unknown> {
  aggregateType: string;
  stream: string;
  type: string;
  seq: number;
  data: D;
  ts: number;
  partition: number;
  offset: number;
  meta: EventMeta;
  /**
   * The schema version of `data` (absent: 1, the first shape). Only events of a type whose decider
   * declares a later version carry it (`Decider.events`). What the runtime hands out (loads, history,
   * subscribers, the feed, views) is always at the decider's current version: older data was upcast on
   * the way (runtime/upcast.ts). Log adapters store and return it as given.
   */
  schemaVersion?: number;
}

/**
 * An event as the HTTP API and cluster forwarding carry it: the envelope with `ts` as ISO-8601 (the
 * server's envelope-json.ts makes it; both ends of a forwarded request speak it).
 */
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
