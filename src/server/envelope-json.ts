/**
 * Envelopes as the HTTP API and the feed show them: the stored envelope with `ts` as an ISO-8601 string
 * (the log keeps epoch ms). One module, so REST bodies and feed messages never disagree.
 *
 * Two forms of the same JSON:
 * - `envelopeJson(e)`: the object, for bodies fastify serialises;
 * - `envelopeJsonText(e)` and `commandReplyJson(r)`: the JSON text written directly, for the command
 *   route, the server's hot path. Building the text in one pass skips an object per envelope, the reply
 *   object and its spreads (garbage on every request), and fastify's serialisation of them.
 *
 * Gotchas: the text forms must stay byte-for-byte what `JSON.stringify` makes of the object forms (same key
 * order, a key whose value is `undefined` left out, the same escaping). So every value is written by
 * `JSON.stringify` itself and only the punctuation and the keys are literal; `test/server/routes.int.test.ts`
 * compares the two forms, and the route's bytes with the documented object. Add a field to both forms or to neither.
 */
import { formatPositionAfter, type EnvelopeJson, type EventEnvelope } from '../kernel/index.js';
import type { ExecuteResult } from '../runtime/index.js';

export type { EnvelopeJson } from '../kernel/index.js';

// The events of one command share one `ts`, and commands answered in the same millisecond share it too:
// under load most replies reuse the previous ISO string instead of a Date and a toISOString each.
let lastTs = Number.NaN;
let lastIso = '';

/** `ts` (epoch ms) as ISO-8601, as `new Date(ts).toISOString()` (which throws a RangeError for an invalid time). */
export function isoTime(ts: number): string {
  if (ts !== lastTs) {
    lastIso = new Date(ts).toISOString();
    lastTs = ts;
  }
  return lastIso;
}

export function envelopeJson(e: EventEnvelope): EnvelopeJson {
  return {
    aggregateType: e.aggregateType,
    stream: e.stream,
    type: e.type,
    seq: e.seq,
    data: e.data,
    ts: isoTime(e.ts),
    partition: e.partition,
    offset: e.offset,
    meta: e.meta ?? {},
  };
}

const json = JSON.stringify;

/** `"key":<value>` with a leading comma, or nothing when the value has no JSON form (`undefined`), as JSON.stringify. */
function field(key: string, value: unknown): string {
  const text = json(value) as string | undefined;
  return text === undefined ? '' : `,"${key}":${text}`;
}

/** An object's JSON from its `field`s (each with a leading comma). */
function object(fields: string): string {
  return fields === '' ? '{}' : `{${fields.slice(1)}}`;
}

/** `JSON.stringify(envelopeJson(e))`, built directly. */
export function envelopeJsonText(e: EventEnvelope): string {
  return object(
    field('aggregateType', e.aggregateType) +
      field('stream', e.stream) +
      field('type', e.type) +
      field('seq', e.seq) +
      field('data', e.data) +
      field('ts', isoTime(e.ts)) +
      field('partition', e.partition) +
      field('offset', e.offset) +
      field('meta', e.meta ?? {}),
  );
}

/** The command reply's object form (what `commandReplyJson` writes as text): a forwarded command's answer (cluster mode). */
export interface CommandReplyJson {
  id: string;
  type: string;
  version: number;
  events: EnvelopeJson[];
  state: unknown;
  position?: string;
  duplicate?: true;
}

/** `JSON.parse(commandReplyJson(r, partitions))`, built as an object: the same keys in the same order. */
export function commandReply(r: ExecuteResult, partitions: number): CommandReplyJson {
  const last = r.events[r.events.length - 1];
  return {
    id: r.id,
    type: r.type,
    version: r.version,
    events: r.events.map(envelopeJson),
    state: r.state,
    ...(last ? { position: formatPositionAfter(last, partitions) } : {}),
    ...(r.duplicate ? { duplicate: true as const } : {}),
  };
}

/**
 * The body of a successful `POST /aggregates/:type/:id/commands` (docs/http-api.md) as JSON text:
 * `JSON.stringify({ id, type, version, events: events.map(envelopeJson), state, position?, duplicate? })`,
 * built directly. `position` (the log position just after the last event, kernel/position.ts, for a log
 * of `partitions` partitions) is the read-your-writes token.
 */
export function commandReplyJson(r: ExecuteResult, partitions: number): string {
  const events = r.events;
  let list = '';
  for (let i = 0; i < events.length; i++) list += `,${envelopeJsonText(events[i]!)}`;
  const last = events[events.length - 1];
  return object(
    field('id', r.id) +
      field('type', r.type) +
      field('version', r.version) +
      `,"events":[${list.slice(1)}]` +
      field('state', r.state) +
      (last ? field('position', formatPositionAfter(last, partitions)) : '') +
      (r.duplicate ? ',"duplicate":true' : ''),
  );
}
